"""Helpers shared by the store's tests (importable from worker processes too)."""

from __future__ import annotations

from decimal import Decimal

from reelforge.core.models import JobSpec, JobState
from reelforge.store import NewJob, Store


class FakeClock:
    """Unix time that moves only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


def new_jobs(
    count: int, *, brand: str = "acme", model: str = "sora-2", cost: str = "0.40"
) -> list[NewJob]:
    """``count`` jobs keyed ``job-0`` … in file order."""
    return [
        NewJob(
            key=f"job-{i}",
            spec=JobSpec(
                prompt=f"a kite over the sea, take {i}", model=model, labels={"brand": brand}
            ),
            position=i,
            account="openai-test",
            estimated_cost=Decimal(cost),
        )
        for i in range(count)
    ]


def submitted(store: Store, job: str, remote_id: str = "video_1") -> str:
    """Take a pending job through admission, intent and remote id to ``queued``; the token."""
    store.transition(job, JobState.WAITING)
    token = store.record_intent(job)
    assert store.record_remote_id(job, token, remote_id)
    return token
