"""Fixtures for the store's tests: a migrated database per test — a SQLite file, and a fresh
database on a PostgreSQL server (``pgserver``), with the same assertions — and a hand-driven
clock."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from store_helpers import FakeClock, new_jobs

from pgserver import PostgresServer, postgres_server
from reelforge.store import Store, job_id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / ".reelforge" / "reelforge.db"


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
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    with Store(store_url, now=clock) as opened:
        opened.migrate()
        yield opened


@pytest.fixture
def batch(store: Store) -> str:
    """A batch of three pending jobs (``job-0`` … ``job-2``) with a $10 budget."""
    store.upsert_batch("spring", name="Spring campaign", out_dir="out", budget_usd=Decimal(10))
    store.add_jobs("spring", new_jobs(3))
    return "spring"


@pytest.fixture
def job(batch: str) -> str:
    """The id of the batch's first job."""
    return job_id(batch, "job-0")
