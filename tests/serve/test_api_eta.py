"""A batch's ETA in the JSON API: the jobs left at the pace jobs have ended since the first was
sent; unknown before any has ended; 0 once none is left."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reelforge import JobSpec, JobState
from reelforge.core.errors import ErrorCategory
from reelforge.serve import ServeState, build_app
from reelforge.store import NewJob, Store


class _Clock:
    def __init__(self) -> None:
        self.value = 1_000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def store(tmp_path: Path, clock: _Clock) -> Iterator[Store]:
    store = Store.for_path(tmp_path / "db.sqlite", now=clock)
    store.migrate()
    store.upsert_batch("b", name="b", out_dir="out")
    store.add_jobs(
        "b", [NewJob(key=f"k{n}", spec=JobSpec(prompt=f"clip {n}"), position=n) for n in range(4)]
    )
    yield store
    store.close()


async def _eta(store: Store) -> object:
    app = build_app(ServeState(store=store, db_url=store.url))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://127.0.0.1"
    ) as client:
        return (await client.get("/api/batches/b")).json()["eta_seconds"]


def _fail(store: Store, job: str) -> None:
    store.transition(job, JobState.FAILED, category=ErrorCategory.GENERATION_FAILED, error="no")


async def test_the_eta_follows_the_pace_of_ended_jobs(store: Store, clock: _Clock) -> None:
    assert await _eta(store) is None  # nothing sent yet
    ids = [job.id for job in store.jobs("b")]
    for n, job in enumerate(ids):
        store.transition(job, JobState.WAITING)
        token = store.record_intent(job)
        assert store.record_remote_id(job, token, f"video_{n}")
    assert await _eta(store) is None  # sent, none ended: no pace yet
    clock.value += 100
    _fail(store, ids[0])
    assert await _eta(store) == 300  # 3 left at 100 s each
    clock.value += 100
    _fail(store, ids[1])
    assert await _eta(store) == 200  # 2 left at 200 s / 2 ended
    for job in ids[2:]:
        _fail(store, job)
    assert await _eta(store) == 0
