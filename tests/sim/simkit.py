"""Helpers shared by the simulator's tests: a fake clock and in-process clients."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn

from reelforge.sim import Simulator

API_KEY = "sk-test-key"
START = 1_800_000_000.0

SimFactory = Callable[..., Simulator]
"""``make_sim(**config_fields)`` -> a simulator on the fake clock."""


class FakeClock:
    """A clock that only moves when told to (real seconds)."""

    def __init__(self, start: float = START) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def tick(self, seconds: float) -> None:
        self.t += seconds


def client_for(sim: Simulator, api_key: str | None = API_KEY) -> httpx.AsyncClient:
    """An async client reaching ``sim.app`` in-process, with a bearer key unless ``None``."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key is not None else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test/v1",
        headers=headers,
    )


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """Create a video with JSON (prompt defaults to a cat) and return the Video object."""
    fields.setdefault("prompt", "A calico cat playing a piano on stage")
    response = await client.post("/videos", json=fields)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def finish(sim: Simulator, clock: FakeClock, video_id: str) -> None:
    """Move the fake clock just past a job's end."""
    clock.t = max(clock.t, sim.video(video_id).finished_at + 0.001)


class ThreadedServer:
    """Any ASGI app served by uvicorn on a free loopback port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._socket])), daemon=True
        )

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
