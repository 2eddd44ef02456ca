"""Fixtures for provider tests (the fakes themselves live in ``openai_fakes``)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openai_fakes import API_KEY, BASE_URL, FakeClock, Handler, MakeProvider, Recorder

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
