"""Work done by child processes in the concurrency tests (module-level, so ``spawn`` can import
it). Each function opens its own :class:`Store` on the shared file."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from reelforge.core.models import JobState, Variant
from reelforge.store import Store, job_id

S = JobState


def life_cycles(url: str, worker: int, own: int, contested: int, start: Any, results: Any) -> None:
    """Take ``own`` jobs of this worker through the whole life cycle, and race the other
    workers for the ``contested`` shared jobs; report counts, or the error."""
    try:
        store = Store(url)
        start.wait(timeout=60)
        won = 0
        for i in range(contested):
            won += store.transition(job_id("shared", f"c{i}"), S.WAITING, expect=[S.PENDING])
        for i in range(own):
            job = job_id("busy", f"w{worker}-{i}")
            store.transition(job, S.WAITING)
            token = store.record_intent(job)
            store.record_remote_id(job, token, f"video_{worker}_{i}")
            store.record_progress(job, S.IN_PROGRESS, 50)
            store.transition(job, S.COMPLETED)
            store.transition(job, S.DOWNLOADING)
            store.record_asset(job, Variant.VIDEO, f"out/{job}/video.mp4", i, "0" * 64)
            store.settle(job, Decimal("0.10"))
            store.transition(job, S.DONE)
        store.close()
        results.put((worker, won, None))
    except Exception as exc:  # report any failure to the parent, which fails the test
        results.put((worker, 0, repr(exc)))


def reservations(url: str, worker: int, count: int, amount: str, start: Any, results: Any) -> None:
    """Try to reserve ``amount`` for each of this worker's ``count`` jobs; report successes."""
    try:
        store = Store(url)
        start.wait(timeout=60)
        granted = sum(
            store.reserve(job_id("budget", f"w{worker}-{i}"), Decimal(amount)) for i in range(count)
        )
        store.close()
        results.put((worker, granted, None))
    except Exception as exc:  # report any failure to the parent, which fails the test
        results.put((worker, 0, repr(exc)))


def migrations(url: str, worker: int, start: Any, results: Any) -> None:
    """Migrate the same fresh file as the other workers, at the same moment."""
    try:
        store = Store(url)
        start.wait(timeout=60)
        store.migrate()
        store.close()
        results.put((worker, 1, None))
    except Exception as exc:  # report any failure to the parent, which fails the test
        results.put((worker, 0, repr(exc)))
