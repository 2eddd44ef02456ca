"""Serving the simulator over HTTP with uvicorn: blocking (:func:`serve`) or in a thread
(:class:`EmbeddedSimulator`)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType

import uvicorn

from reelforge.core.errors import ConfigError
from reelforge.sim.clock import NowClock
from reelforge.sim.config import SimConfig
from reelforge.sim.simulator import Simulator

__all__ = ["EmbeddedSimulator", "serve"]

_START_TIMEOUT = 10.0


def _uvicorn_config(sim: Simulator, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        sim.app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


def serve(config: SimConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the simulator on ``host:port`` until interrupted (blocking)."""
    sim = Simulator(config)
    try:
        uvicorn.Server(_uvicorn_config(sim, host, port, "info")).run()
    finally:
        sim.close()


class EmbeddedSimulator:
    """A :class:`Simulator` served by uvicorn on ``127.0.0.1:<free port>`` in a daemon thread.

    Use it as a context manager (sync or async)::

        with EmbeddedSimulator(SimConfig(time_scale=200)) as emb:
            client = OpenAI(base_url=emb.base_url, api_key="sk-test")
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        clock: NowClock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.sim = Simulator(config, clock=clock)
        self.host = host
        # An explicit IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections (it
        # checks the listening socket's protocol); without it, answers on kept-alive
        # connections wait ~40 ms for the client's delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(self.sim, host, self.port, log_level))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no path)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base URL clients use: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    def start(self) -> EmbeddedSimulator:
        """Start serving; return once the server accepts connections."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._run, name=f"reelforge-sim-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the simulator did not start on {self.url}")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def stop(self) -> None:
        """Stop serving and wait for the thread; remove the media cache."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=_START_TIMEOUT)
            self._thread = None
        self._socket.close()
        self.sim.close()

    def __enter__(self) -> EmbeddedSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedSimulator:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
