"""Helpers shared by the simulator's tests: a fake clock and in-process clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

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
