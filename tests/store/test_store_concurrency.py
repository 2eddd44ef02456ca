"""Several processes on one SQLite file: no ``database is locked``, exact final counts."""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import store_workers

from reelforge.core.models import JobSpec, JobState
from reelforge.store import EventKind, NewJob, Store, StoreError
from reelforge.store.engine import read, write

WORKERS = 4
OWN = 60  # jobs per worker, 9 write transactions each
CONTESTED = 100  # jobs every worker races for


def _jobs(prefix: str, count: int) -> list[NewJob]:
    return [
        NewJob(key=f"{prefix}{i}", spec=JobSpec(prompt=f"{prefix} {i}"), position=i)
        for i in range(count)
    ]


def _run(target: Callable[..., None], *args: Any) -> list[tuple[int, int, str | None]]:
    """Run ``target(url, worker, *rest, start, results)`` in WORKERS spawned processes.

    A child that dies without reporting (say, it could not import) fails the test at once
    instead of leaving the parent waiting.
    """
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(args[0], worker, *args[1:], start, results))
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    outcomes: list[tuple[int, int, str | None]] = []
    deadline = time.monotonic() + 90
    try:
        while len(outcomes) < WORKERS:
            try:
                outcomes.append(results.get(timeout=0.5))
            except queue.Empty:
                reported = {worker for worker, _, _ in outcomes}
                dead = [
                    (worker, process.exitcode)
                    for worker, process in enumerate(processes)
                    if worker not in reported and process.exitcode not in (None, 0)
                ]
                assert not dead, f"workers died without reporting (worker, exit code): {dead}"
                assert time.monotonic() < deadline, "workers did not finish in 90 s"
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        results.close()
        results.join_thread()
    assert [process.exitcode for process in processes] == [0] * WORKERS
    return sorted(outcomes)


@pytest.mark.slow
def test_processes_share_one_file_without_locking_errors(store: Store) -> None:
    store.upsert_batch("shared", name="Shared", out_dir="out")
    store.add_jobs("shared", _jobs("c", CONTESTED))
    store.upsert_batch("busy", name="Busy", out_dir="out")
    store.add_jobs("busy", [job for w in range(WORKERS) for job in _jobs(f"w{w}-", OWN)])
    outcomes = _run(store_workers.life_cycles, store.url, OWN, CONTESTED)

    assert [error for _, _, error in outcomes] == [None] * WORKERS
    # Every contested transition was won by exactly one process.
    assert sum(won for _, won, _ in outcomes) == CONTESTED
    assert {j.state for j in store.jobs("shared")} == {JobState.WAITING}
    busy = store.batch_summary("busy")
    assert busy.counts[JobState.DONE] == WORKERS * OWN == busy.total
    assert busy.actual == Decimal("0.10") * WORKERS * OWN
    events = store.events_after(0, limit=100_000)
    # Contested jobs: created, then won once. Own jobs: the ten events listed below.
    assert len(events) == CONTESTED * 2 + WORKERS * OWN * 10
    assert [e.id for e in events] == sorted({e.id for e in events})
    # Each job's history is its own life cycle, in order, whatever the interleaving.
    expected = [
        (EventKind.STATE, JobState.PENDING),
        (EventKind.STATE, JobState.WAITING),
        (EventKind.INTENT, JobState.SUBMITTING),
        (EventKind.REMOTE_ID, JobState.QUEUED),
        (EventKind.STATE, JobState.IN_PROGRESS),
        (EventKind.STATE, JobState.COMPLETED),
        (EventKind.STATE, JobState.DOWNLOADING),
        (EventKind.ASSET, None),
        (EventKind.COST, JobState.DOWNLOADING),
        (EventKind.STATE, JobState.DONE),
    ]
    for job in store.jobs("busy")[:: OWN // 3]:
        assert [(e.kind, e.state) for e in store.history(job.id)] == expected


@pytest.mark.slow
def test_concurrent_reservations_never_exceed_the_budget(store: Store) -> None:
    per_worker, amount, budget = 75, Decimal("0.30"), Decimal("10.00")
    store.upsert_batch("budget", name="Budget", out_dir="out", budget_usd=budget)
    store.add_jobs("budget", [job for w in range(WORKERS) for job in _jobs(f"w{w}-", per_worker)])
    outcomes = _run(store_workers.reservations, store.url, per_worker, str(amount))

    assert [error for _, _, error in outcomes] == [None] * WORKERS
    granted = sum(count for _, count, _ in outcomes)
    assert granted == int(budget / amount) == 33
    summary = store.batch_summary("budget")
    assert summary.reserved == amount * granted <= budget


@pytest.mark.slow
def test_processes_can_migrate_the_same_file_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    outcomes = _run(store_workers.migrations, url)
    assert [error for _, _, error in outcomes] == [None] * WORKERS
    with Store(url) as store:
        assert {"batches", "jobs", "job_events", "assets", "costs"} <= set(
            sa.inspect(store.engine).get_table_names()
        )


def test_threads_share_one_store(store: Store) -> None:
    store.upsert_batch("threads", name="Threads", out_dir="out")
    store.add_jobs("threads", _jobs("t", 200))
    ids = [job.id for job in store.jobs("threads")]
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for job in ids[offset::WORKERS]:
                store.transition(job, JobState.WAITING)
                store.record_intent(job)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.batch_summary("threads").counts[JobState.SUBMITTING] == 200


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # SQLite's own settings
def test_connections_get_the_pragmas(store: Store) -> None:
    with read(store.engine) as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 30_000,
        "foreign_keys": 1,
    }


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # SQLite's own settings
def test_a_write_transaction_holds_the_write_lock_from_its_start(
    store: Store, db_path: Path
) -> None:
    # BEGIN IMMEDIATE: before any statement runs, another writer is already locked out.
    other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    try:
        with write(store.engine), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # SQLite's own settings
def test_a_writer_waits_for_the_lock_instead_of_failing(store: Store, batch: str, job: str) -> None:
    other = sqlite3.connect(
        store.engine.url.database or "", timeout=0, isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(0.5, other.execute, args=("COMMIT",))
    timer.start()
    try:
        assert store.transition(job, JobState.WAITING)  # blocks about 0.5 s, then succeeds
    finally:
        timer.join()
        other.close()


def test_foreign_keys_are_enforced(store: Store) -> None:
    orphan = sa.text(
        "INSERT INTO assets (job_id, variant, path, bytes, sha256, downloaded_at) "
        "VALUES ('missing', 'video', 'p', 1, 'x', 0)"
    )
    with pytest.raises(StoreError, match=r"(?i)foreign key"), write(store.engine) as conn:
        conn.execute(orphan)
