"""Outbox order on PostgreSQL: event ids come from a sequence, so two transactions writing at
once could make id 11 visible before id 10, and a sink whose cursor passed 11 would never read
10. The store's writers take turns (an advisory lock held to commit, as SQLite's write lock):
ids become visible in id order, and a sink following the outbox delivers every event.

The first test shows the hazard is real on this server (raw transactions, no lock); the others
show the store never exposes it.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from pathlib import Path

import psycopg
import pytest
from store_helpers import new_jobs

from reelforge.core.models import JobState
from reelforge.sinks.jsonl import JsonlSink
from reelforge.sinks.runner import SinkRunner
from reelforge.store import EventKind, Store, job_id
from reelforge.store._sql import append_event
from reelforge.store.engine import write

pytestmark = pytest.mark.parametrize("store_url", ["postgres"], indirect=True)


def _batch(store: Store, jobs: int = 4) -> list[str]:
    store.upsert_batch("outbox", name="Outbox", out_dir="out")
    store.add_jobs("outbox", new_jobs(jobs))
    return [job_id("outbox", f"job-{i}") for i in range(jobs)]


def _raw(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def _insert(conn: psycopg.Connection[tuple[object, ...]], job: str) -> int:
    row = conn.execute(
        "INSERT INTO job_events (job_id, batch_id, at, kind) VALUES (%s, 'outbox', 0, 'note') "
        "RETURNING id",
        (job,),
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_without_turns_a_later_id_commits_first_and_a_cursor_skips_the_earlier(
    store: Store,
) -> None:
    job = _batch(store)[0]
    cursor = max((e.id for e in store.events_after(0, 1000)), default=0)
    with _raw(store.url) as first, _raw(store.url) as second:
        early = _insert(first, job)
        late = _insert(second, job)
        second.commit()
        seen = [e.id for e in store.events_after(cursor, 1000)]
        cursor = max(seen)
        first.commit()
    assert early < late
    assert seen == [late]
    assert early not in [e.id for e in store.events_after(cursor, 1000)]  # lost to the cursor


def test_a_second_writer_waits_for_the_first_so_ids_commit_in_order(store: Store) -> None:
    jobs = _batch(store)
    cursor = max(e.id for e in store.events_after(0, 1000))
    opened, release = threading.Event(), threading.Event()

    def first() -> None:
        with write(store.engine) as conn:
            append_event(conn, job_id=jobs[0], batch_id="outbox", at=0.0, kind=EventKind.NOTE)
            opened.set()
            release.wait(10)

    holder = threading.Thread(target=first)
    holder.start()
    assert opened.wait(10)
    second = threading.Thread(target=store.record_note, args=(jobs[1], "second"))
    second.start()
    second.join(0.5)
    assert second.is_alive(), "a second writer ran while the first held its transaction"
    assert store.events_after(cursor, 1000) == []  # nothing visible yet: no cursor can pass it
    release.set()
    holder.join(10)
    second.join(10)
    events = store.events_after(cursor, 1000)
    assert [e.job_id for e in events] == [jobs[0], jobs[1]]
    assert events[0].id < events[1].id


def test_a_sink_following_concurrent_writers_delivers_every_event_once(
    store: Store, tmp_path: Path
) -> None:
    jobs = _batch(store, jobs=6)
    writers, per_writer = 6, 25
    rng = random.Random(7)
    # (inside the transaction, after it took its id; then before the next one) — slow enough
    # for the sink to keep up with the newest events, where an out-of-order commit would bite.
    pauses = [
        [(rng.uniform(0, 0.02), rng.uniform(0, 0.01)) for _ in range(per_writer)]
        for _ in range(writers)
    ]

    def writer(n: int) -> None:
        for i, (inside, between) in enumerate(pauses[n]):
            with write(store.engine) as conn:
                append_event(
                    conn,
                    job_id=jobs[n],
                    batch_id="outbox",
                    at=float(i),
                    kind=EventKind.NOTE,  # (progress events may be coalesced by the runner)
                    state=JobState.PENDING,
                    data={"message": f"writer {n} event {i}"},
                )
                time.sleep(inside)  # the transaction stays open a while after taking its id
            time.sleep(between)

    sink = JsonlSink(tmp_path / "events.jsonl")

    async def follow() -> None:
        runner = SinkRunner(store, [sink], batch=2)
        task = asyncio.create_task(runner.run_forever(poll_interval=0.001))
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            await asyncio.to_thread(thread.join)
        await runner.drain()
        runner.stop()
        await task
        await runner.aclose()

    asyncio.run(follow())
    delivered = [
        json.loads(line)["data"]["event_id"]
        for line in (tmp_path / "events.jsonl").read_text().splitlines()
    ]
    expected = [e.id for e in store.events_after(0, 10_000)]
    assert len(expected) >= writers * per_writer
    assert delivered == expected
