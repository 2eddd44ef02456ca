"""Fixtures for the store's tests: a migrated SQLite file per test and a hand-driven clock."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from store_helpers import FakeClock, new_jobs

from reelforge.store import Store, job_id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / ".reelforge" / "reelforge.db"


@pytest.fixture
def store(db_path: Path, clock: FakeClock) -> Iterator[Store]:
    with Store.for_path(db_path, now=clock) as opened:
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
