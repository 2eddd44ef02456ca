"""Serving the fake over HTTP with uvicorn: blocking (:func:`serve`) or in a thread
(:class:`EmbeddedFakeNotion`)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from reelforge.core.errors import ConfigError
from reelforge.fakenotion.app import create_app
from reelforge.fakenotion.config import FakeNotionConfig
from reelforge.fakenotion.state import FakeNotionState

__all__ = ["EmbeddedFakeNotion", "serve"]

_START_TIMEOUT = 10.0


def _uvicorn_config(app: Starlette, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8010,
    config: FakeNotionConfig | None = None,
    *,
    state: FakeNotionState | None = None,
) -> None:
    """Run the fake Notion server on ``host:port`` until interrupted (blocking).

    Pass ``state`` to serve one prepared in-process (databases made beforehand).
    """
    if state is None:
        state = FakeNotionState(config)
    uvicorn.Server(_uvicorn_config(create_app(state), host, port, "info")).run()


class EmbeddedFakeNotion:
    """A fake Notion served by uvicorn on ``127.0.0.1:<free port>`` in a daemon thread.

    Use it as a context manager (sync or async)::

        with EmbeddedFakeNotion() as fake:
            ids = fake.state.create_database("Jobs", {"Name": {"title": {}}})
            client = AsyncClient(auth="secret", base_url=fake.base_url)
    """

    def __init__(
        self,
        config: FakeNotionConfig | None = None,
        *,
        state: FakeNotionState | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.state = state if state is not None else FakeNotionState(config)
        self.app = create_app(self.state)
        self.host = host
        # An explicit IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections; with
        # proto 0 it does not, and keep-alive responses stall on delayed ACKs (~40 ms each).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(self.app, host, self.port, log_level))
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` — what ``notion_client`` takes as ``base_url`` (it adds
        ``/v1`` itself)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedFakeNotion:
        """Start serving; return once the server accepts connections."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._run, name=f"reelforge-fakenotion-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the fake Notion server did not start on {self.base_url}")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=_START_TIMEOUT)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> EmbeddedFakeNotion:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedFakeNotion:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
