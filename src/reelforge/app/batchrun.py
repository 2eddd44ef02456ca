"""Running a batch on the durable engine, from the library (``Forge.run``) or the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from reelforge.batch import Batch
from reelforge.core.models import JobState
from reelforge.engine import Engine
from reelforge.store import BatchSummary, JobRow

__all__ = ["BatchResult", "run_batch"]


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchResult:
    """How a batch ended: counts, money, and every job's row."""

    batch_id: str
    summary: BatchSummary
    jobs: tuple[JobRow, ...]
    out_dir: Path

    @property
    def ok(self) -> bool:
        """Whether every job is ``done`` (rejected jobs were never meant to run: they count)."""
        return all(job.state in (JobState.DONE, JobState.REJECTED) for job in self.jobs)

    def count(self, state: JobState) -> int:
        """How many jobs ended in ``state``."""
        return self.summary.counts[state]


async def run_batch(
    engine: Engine,
    batch: Batch,
    *,
    out: Path,
    budget: Decimal | None = None,
    on_update: Callable[[BatchSummary], None] | None = None,
) -> BatchResult:
    """Record, enqueue and wait for ``batch`` on a running ``engine``."""
    batch_id = await engine.submit(batch, out=out, budget=budget)
    summary = await engine.wait(batch_id, on_update=on_update)
    return BatchResult(
        batch_id=batch_id,
        summary=summary,
        jobs=tuple(engine.store.jobs(batch_id)),
        out_dir=out / batch.name,
    )
