"""Helpers shared by the sinks' tests: jobs to fill the outbox, a recording sink, fake time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from reelforge.core.models import JobSpec, JobState, Variant
from reelforge.sinks import SinkEvent
from reelforge.store import NewJob, Store, job_id


class WallClock:
    """Unix time that moves only when a test says so (the store's ``now``)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


class FakeTime:
    """A monotonic clock and a sleep that advances it instantly, recording every wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class RecordingSink:
    """A sink that records what it delivered; ``script`` may raise for an event instead."""

    def __init__(
        self,
        name: str = "recording",
        script: Callable[[SinkEvent], BaseException | None] | None = None,
    ) -> None:
        self._name = name
        self.script = script
        self.delivered: list[SinkEvent] = []
        self.attempts: list[int] = []
        self.closed = False
        self.changed = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name

    async def deliver(self, item: SinkEvent) -> None:
        self.attempts.append(item.event.id)
        if self.script is not None:
            error = self.script(item)
            if error is not None:
                raise error
        self.delivered.append(item)
        self.changed.set()

    async def wait_until(self, predicate: Callable[[list[SinkEvent]], bool]) -> None:
        """Return once ``predicate(self.delivered)`` holds."""
        while not predicate(self.delivered):
            self.changed.clear()
            await self.changed.wait()

    async def aclose(self) -> None:
        self.closed = True

    @property
    def ids(self) -> list[int]:
        return [item.event.id for item in self.delivered]


def add_batch(store: Store, count: int = 2, *, batch: str = "spring") -> list[str]:
    """A batch of ``count`` pending jobs with brand and campaign labels; their ids."""
    store.upsert_batch(batch, name="Spring campaign", out_dir="out", budget_usd=Decimal(10))
    store.add_jobs(
        batch,
        [
            NewJob(
                key=f"job-{i}",
                spec=JobSpec(
                    prompt=f"a kite over the sea, take {i}",
                    model="sora-2",
                    labels={"brand": "acme", "market": "fr"},
                ),
                position=i,
                account="openai-test",
                estimated_cost=Decimal("0.40"),
            )
            for i in range(count)
        ],
    )
    return [job_id(batch, f"job-{i}") for i in range(count)]


def run_to_done(store: Store, job: str, remote_id: str, *, ticks: tuple[int, ...] = ()) -> None:
    """Take a pending job all the way to ``done``, with progress ticks while in progress."""
    store.transition(job, JobState.WAITING)
    token = store.record_intent(job)
    assert store.record_remote_id(job, token, remote_id)
    store.record_progress(job, JobState.IN_PROGRESS, 0)
    for tick in ticks:
        store.record_progress(job, JobState.IN_PROGRESS, tick)
    store.record_progress(job, JobState.COMPLETED, 100)
    store.transition(job, JobState.DOWNLOADING)
    store.record_asset(job, Variant.VIDEO, f"out/{job}/video.mp4", 1234, "ab" * 32)
    store.settle(job, Decimal("0.40"))
    store.transition(job, JobState.DONE)
