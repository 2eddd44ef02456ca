"""ThreadedServer on a real loopback port: serving, stopping, and the errors of a failed start."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from reelforge._serve import ThreadedServer
from reelforge.core.errors import ConfigError


async def _hello(_: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def _app() -> Starlette:
    return Starlette(routes=[Route("/", _hello)])


def test_serves_between_start_and_stop() -> None:
    with ThreadedServer(_app()) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.start() is server
        assert httpx.get(server.url).text == "hello"
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url)


def test_the_listening_socket_names_tcp_so_accepted_connections_get_nodelay() -> None:
    with ThreadedServer(_app()) as server:
        assert server._socket.proto == socket.IPPROTO_TCP


def test_a_port_in_use_is_a_config_error() -> None:
    with ThreadedServer(_app()) as server, pytest.raises(ConfigError, match="cannot listen on"):
        ThreadedServer(_app(), port=server.port)


def test_a_failed_startup_is_a_config_error() -> None:
    @asynccontextmanager
    async def failing(_: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    app = Starlette(lifespan=failing)
    server = ThreadedServer(app, lifespan="on", label="the test server", log_level="critical")
    with pytest.raises(ConfigError, match=r"the test server did not start on .*thread ended"):
        server.start()
    with pytest.raises(OSError, match="Bad file descriptor"):
        server._socket.getsockname()  # closed after the failed start
