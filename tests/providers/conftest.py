"""Fixtures for provider tests (the fakes themselves live in ``openai_fakes``)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from openai_fakes import API_KEY, BASE_URL, FakeClock, Handler, MakeProvider, Recorder

from hostile import HostileServer, Reply, Request
from reelforge.providers import OpenAIVideosProvider, RetryPolicy


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_provider(clock: FakeClock) -> AsyncIterator[MakeProvider]:
    """``make_provider(handler, **kwargs)`` → a provider over a MockTransport, and its recorder."""
    clients: list[httpx.AsyncClient] = []

    def make(handler: Handler, **kwargs: Any) -> tuple[OpenAIVideosProvider, Recorder]:
        recorder = Recorder(handler)
        client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
        clients.append(client)
        kwargs.setdefault("base_url", BASE_URL)
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("rng", random.Random(7))
        kwargs.setdefault("retry", RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0))
        return OpenAIVideosProvider(client, **kwargs), recorder

    yield make
    for client in clients:
        await client.aclose()


HostileHandler = Callable[[Request], Reply]


@pytest.fixture
def hostile_key() -> str:
    """The API key the ``serve`` fixture's provider sends (a module may override it)."""
    return "sk-hostile-answers"


@pytest.fixture
async def serve(
    hostile_key: str,
) -> AsyncIterator[
    Callable[[Callable[[Request], Reply]], tuple[OpenAIVideosProvider, HostileServer]]
]:
    """``serve(handler)`` → a provider talking to a fresh hostile server that runs ``handler``."""
    servers: list[HostileServer] = []
    clients: list[httpx.AsyncClient] = []

    def start(handler: HostileHandler) -> tuple[OpenAIVideosProvider, HostileServer]:
        server = HostileServer(handler).__enter__()
        servers.append(server)
        client = httpx.AsyncClient(timeout=10)
        clients.append(client)
        provider = OpenAIVideosProvider(
            client,
            base_url=server.base_url,
            api_key=hostile_key,
            clock=FakeClock(),
            rng=random.Random(5),
            retry=RetryPolicy(max_attempts=3),
        )
        return provider, server

    yield start
    for client in clients:
        await client.aclose()
    for server in servers:
        server.__exit__(None, None, None)
