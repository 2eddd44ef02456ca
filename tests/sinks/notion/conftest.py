"""Fixtures for the Notion sink's tests: a fake Notion on a loopback port, a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from notion_client import AsyncClient
from notion_helpers import TOKEN

from reelforge.fakenotion import CreatedDatabase, EmbeddedFakeNotion, FakeNotionConfig
from reelforge.sinks.notion import NotionSettings, NotionSink, make_client
from reelforge.store import Store


@pytest.fixture(autouse=True)
def _no_notion_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "NOTION_TOKEN",
        "NOTION_BATCH_DATABASE_ID",
        "NOTION_DATABASE_ID",
        "NOTION_DATA_SOURCE_ID",
        "NOTION_BASE_URL",
        "REELFORGE_PUBLIC_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> Iterator[EmbeddedFakeNotion]:
    """A fake Notion that accepts only ``TOKEN``, without its rate limit (tests that measure
    the limiter turn it on)."""
    with EmbeddedFakeNotion(FakeNotionConfig(tokens=(TOKEN,), rate_limit=False)) as emb:
        yield emb


@pytest.fixture
def database(fake: EmbeddedFakeNotion) -> CreatedDatabase:
    """A database with only a title: ``init`` adds the rest."""
    return fake.state.create_database("Video variations", {"Name": {"title": {}}})


@pytest.fixture
def settings(fake: EmbeddedFakeNotion, database: CreatedDatabase) -> NotionSettings:
    return NotionSettings(token=TOKEN, database_id=database.database_id, base_url=fake.base_url)


@pytest.fixture
async def client(settings: NotionSettings) -> AsyncIterator[AsyncClient]:
    notion = make_client(settings)
    yield notion
    await notion.aclose()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.for_path(tmp_path / "db.sqlite") as opened:
        opened.migrate()
        yield opened


@pytest.fixture
async def ready(
    client: AsyncClient, settings: NotionSettings, database: CreatedDatabase
) -> CreatedDatabase:
    """The database after ``init`` with the campaign's dimensions."""
    from reelforge.sinks.notion import init_database

    await init_database(client, settings, dimensions=["aesthetic", "type"])
    return database


@pytest.fixture
def sink(client: AsyncClient, settings: NotionSettings, store: Store) -> NotionSink:
    return NotionSink(client, settings, store=store, rate=1000.0, burst=100)
