"""Serving an ASGI app with uvicorn: the settings our servers share (:func:`uvicorn_config`) and a
server in a daemon thread on a socket bound up front (:class:`ThreadedServer`)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Literal, Self

import uvicorn
from starlette.types import ASGIApp

from reelforge.core.errors import ConfigError

__all__ = ["ThreadedServer", "uvicorn_config"]

_TIMEOUT = 10.0
"""Seconds :meth:`ThreadedServer.start` waits for uvicorn, and :meth:`ThreadedServer.stop` for its
thread."""


def uvicorn_config(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    log_level: str,
    lifespan: Literal["on", "off"] = "off",
    access_log: bool = False,
    timeout_graceful_shutdown: int | None = 2,
    **settings: Any,
) -> uvicorn.Config:
    """uvicorn settings: by default no lifespan, no access log and at most 2 s for open requests
    on shutdown; ``settings`` are passed on to :class:`uvicorn.Config` (``ws=...``, ...)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan=lifespan,
        access_log=access_log,
        timeout_graceful_shutdown=timeout_graceful_shutdown,
        **settings,
    )


def _listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` for uvicorn to listen on."""
    # An explicit IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections (it checks the
    # listening socket's protocol); with proto 0 it does not, and answers on kept-alive
    # connections wait ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
    return sock


class ThreadedServer:
    """``app`` served by uvicorn on ``host:port`` (``port=0``: a free one) in a daemon thread.

    The socket is bound here, so :attr:`port` is known before :meth:`start` and a port in use is
    a :class:`ConfigError` from the constructor. ``label`` names the server in errors,
    ``thread_name`` its thread (followed by the port); ``settings`` go to :func:`uvicorn_config`.
    Use it as a context manager (sync or async) or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        lifespan: Literal["on", "off"] = "off",
        label: str = "the server",
        thread_name: str = "reelforge-server",
        **settings: Any,
    ) -> None:
        self.host = host
        self._socket = _listen(host, port)
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn_config(
            app, host=host, port=self.port, log_level=log_level, lifespan=lifespan, **settings
        )
        self._server = uvicorn.Server(config)
        self._label = label
        self._thread_name = f"{thread_name}-{self.port}"
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (no path)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Start serving; return once uvicorn has started (it accepts connections).

        Raises :class:`ConfigError` (and stops) if the server's thread ends first or uvicorn has
        not started within 10 s; uvicorn logs why.
        """
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                self.stop()
                message = f"{self._label} did not start on {self.url}: its thread ended"
                raise ConfigError(message) from self._failure
            if time.monotonic() > deadline:
                self.stop()
                message = f"{self._label} did not start on {self.url} within {_TIMEOUT:g} s"
                raise ConfigError(message)
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:
            if self._server.started:
                raise
            self._failure = exc  # start() raises from it (uvicorn exits on a failed startup)

    def stop(self) -> None:
        """Ask uvicorn to exit, wait for its thread (at most 10 s) and close the socket."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=_TIMEOUT)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)
