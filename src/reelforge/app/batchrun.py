"""Running a batch on the durable engine, from the library (``Forge.run``) or the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from reelforge.batch import Batch
from reelforge.core.errors import ConfigError
from reelforge.core.models import JobState
from reelforge.engine import Engine
from reelforge.engine.outcome import FINAL
from reelforge.engine.runner import ensure_not_running
from reelforge.providers.registry import Providers
from reelforge.store import BatchSummary, JobRow, Store

__all__ = ["BatchResult", "check_resumable", "run_batch"]


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


def check_resumable(store: Store, batch_id: str, *, providers: Providers) -> None:
    """Before the engine starts: :class:`ConfigError` (exit 2) if a live process is running the
    batch (:func:`~reelforge.engine.runner.ensure_not_running`), or if the batch has unfinished
    jobs recorded with another endpoint or key, which this run could never continue.

    The built-in simulator listens on a new address each time, so a batch interrupted on it can
    only be continued from the same process; against ``reelforge sim`` or a real endpoint, the
    same ``--base-url`` and key continue it.
    """
    ensure_not_running(store, batch_id)
    accounts = providers.accounts()
    foreign = [
        job.key
        for job in store.jobs(batch_id)
        if job.state not in FINAL and job.account not in accounts
    ]
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise ConfigError(
            f"batch {batch_id} has {len(foreign)} unfinished jobs recorded with another endpoint "
            f"or API key than {providers.describe()} ({shown}): continue it with the "
            "--base-url and OPENAI_API_KEY it ran with (the built-in simulator gets a new "
            "address each run: use `reelforge sim` and --base-url to resume batches), or use "
            "another --db"
        )
