"""Helpers shared by the Notion sink's tests: jobs in a real store, events, a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobSpec, JobState, Variant
from reelforge.sinks.base import SinkEvent
from reelforge.store import NewJob, Store, job_id

TOKEN = "secret_ntn_test_token_4f2a9c"
BATCH = "spring-launch"

CAMPAIGN_LABELS = {
    "campaign": "Spring Launch",
    "brand": "Acme",
    "product_category": "sparkling water",
    "big_idea": "Refreshment that keeps up",
}


class FakeClock:
    """Monotonic seconds that move only when something sleeps (shared with the fake server)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def now(self) -> float:
        return self.value

    async def sleep(self, seconds: float) -> None:
        self.value += max(0.0, seconds)
        await asyncio.sleep(0)


def campaign_labels(index: int, **dimensions: str) -> dict[str, str]:
    dims = dimensions or {"aesthetic": "cinematic", "type": "product hero"}
    return {**CAMPAIGN_LABELS, "combination_id": f"c{index:04d}", **dims}


def add_jobs(
    store: Store,
    count: int,
    *,
    out_dir: Path,
    prompt: str = "a can of sparkling water on a cliff at dawn",
    labels: Mapping[str, str] | None = None,
    batch: str = BATCH,
) -> list[str]:
    """``count`` pending campaign jobs (keys ``combo-0`` …); their ids."""
    store.upsert_batch(batch, name=batch, out_dir=out_dir)
    jobs = [
        NewJob(
            key=f"combo-{i}",
            spec=JobSpec(
                prompt=prompt,
                model="sora-2",
                seconds=8,
                size="1280x720",
                labels=dict(labels) if labels is not None else campaign_labels(i),
            ),
            position=i,
            account="openai-test",
            estimated_cost=Decimal("0.80"),
        )
        for i in range(count)
    ]
    store.add_jobs(batch, jobs)
    return [job_id(batch, job.key) for job in jobs]


def submit(store: Store, job: str, remote_id: str) -> None:
    store.transition(job, JobState.WAITING)
    token = store.record_intent(job)
    assert store.record_remote_id(job, token, remote_id)


def finish(store: Store, job: str, remote_id: str, out_dir: Path, *, cost: str = "0.80") -> None:
    """Take a pending job all the way to ``done`` with a video and a thumbnail on disk."""
    submit(store, job, remote_id)
    store.record_progress(job, JobState.IN_PROGRESS, 60)
    store.transition(job, JobState.COMPLETED, progress=100)
    store.transition(job, JobState.DOWNLOADING)
    row = store.get_job(job)
    folder = out_dir / BATCH / row.key
    folder.mkdir(parents=True, exist_ok=True)
    for variant in (Variant.VIDEO, Variant.THUMBNAIL):
        path = folder / variant.filename
        path.write_bytes(b"x")
        store.record_asset(job, variant, path, 1, "0" * 64)
    store.settle(job, Decimal(cost))
    store.transition(job, JobState.DONE)


def fail(store: Store, job: str, remote_id: str, category: ErrorCategory, error: str) -> None:
    submit(store, job, remote_id)
    store.transition(job, JobState.FAILED, category=category, error=error)


def event(store: Store, job: str) -> SinkEvent:
    """The job's latest event with the job and its assets as they are now."""
    return SinkEvent(
        event=store.history(job)[-1], job=store.get_job(job), assets=tuple(store.assets(job))
    )


def every_event(store: Store, job: str) -> list[SinkEvent]:
    """Every event of the job, each with today's snapshot (as a replay would deliver them)."""
    row, assets = store.get_job(job), tuple(store.assets(job))
    return [SinkEvent(event=e, job=row, assets=assets) for e in store.history(job)]


def plain(value: Mapping[str, Any]) -> Any:
    """The plain content of a page property value as the fake renders it."""
    kind = value["type"]
    inner = value[kind]
    if kind in ("title", "rich_text"):
        return "".join(item["plain_text"] for item in inner)
    if kind in ("select", "status"):
        return inner["name"] if inner else None
    if kind == "date":
        return inner["start"] if inner else None
    return inner
