"""Fixtures for the fake Notion server's tests: a served fake, a jobs database, SDK clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fakenotion_kit import JOBS_SCHEMA, TOKEN, MakeClient
from notion_client import AsyncClient

from reelforge.fakenotion import (
    NOTION_VERSION,
    CreatedDatabase,
    EmbeddedFakeNotion,
    FakeNotionConfig,
)


@pytest.fixture(scope="session")
def _served() -> Iterator[EmbeddedFakeNotion]:
    with EmbeddedFakeNotion(FakeNotionConfig(rate_limit=False)) as served:
        yield served


@pytest.fixture
def fake(_served: EmbeddedFakeNotion) -> EmbeddedFakeNotion:
    """A served fake without a rate limit, emptied for each test (rate-limit tests make their
    own server)."""
    _served.state.reset()
    return _served


@pytest.fixture
def jobs(fake: EmbeddedFakeNotion) -> CreatedDatabase:
    return fake.state.create_database("Batch jobs", JOBS_SCHEMA)


@pytest.fixture
async def make_client(fake: EmbeddedFakeNotion) -> AsyncIterator[MakeClient]:
    """SDK clients on ``fake``; keyword arguments go to ``AsyncClient``."""
    made: list[AsyncClient] = []

    def factory(**options: Any) -> AsyncClient:
        options.setdefault("auth", TOKEN)
        options.setdefault("base_url", fake.base_url)
        options.setdefault("notion_version", NOTION_VERSION)
        client = AsyncClient(**options)
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()


@pytest.fixture
def notion(make_client: MakeClient) -> AsyncClient:
    return make_client()


@pytest.fixture
async def http(fake: EmbeddedFakeNotion) -> AsyncIterator[httpx.AsyncClient]:
    """A raw HTTP client on ``fake`` (no headers set)."""
    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        yield client
