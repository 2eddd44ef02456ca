"""Fixtures for the sinks' tests: a migrated database (a SQLite file, and a fresh database on a
PostgreSQL server — ``pgserver`` — with the same assertions), a hand-driven wall clock, fake
time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sink_helpers import FakeTime, WallClock

from pgserver import PostgresServer, postgres_server
from reelforge.store import Store


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "reelforge.db"


__all__ = ["postgres_server"]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, db_path: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a new database on the Postgres server."""
    if request.param == "sqlite":
        db_path.parent.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{db_path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with server.database() as url:
        yield url


@pytest.fixture
def store(store_url: str, wall: WallClock) -> Iterator[Store]:
    with Store(store_url, now=wall) as opened:
        opened.migrate()
        yield opened
