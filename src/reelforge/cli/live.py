"""Rich views of a batch: the live progress view and the closing summary."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from reelforge.core.models import JobState
from reelforge.engine.outcome import FINAL
from reelforge.store import BatchSummary, JobRow, Store

__all__ = ["BatchView", "summary_table"]

_ACTIVE = [s for s in JobState if s not in FINAL and s is not JobState.PENDING]


class BatchView:
    """A batch bar (with ETA and cost so far) over one bar per active job."""

    def __init__(self, store: Store, batch_id: str, *, console: Console) -> None:
        self._store = store
        self._batch_id = batch_id
        self._overall = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._jobs = Progress(
            TextColumn("  {task.description:<28}"),
            BarColumn(bar_width=30),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[state]}"),
            console=console,
        )
        self._batch_task = self._overall.add_task(escape(batch_id), total=None, detail="")
        self._job_tasks: dict[str, TaskID] = {}
        self.live = Live(Group(self._overall, self._jobs), console=console, refresh_per_second=8)

    def update(self, summary: BatchSummary) -> None:
        """Refresh from the store (called by the engine's wait loop)."""
        ended = sum(summary.counts[state] for state in FINAL)
        spent = summary.actual
        detail = (
            f"done {summary.counts[JobState.DONE]}  failed {summary.counts[JobState.FAILED]}  "
            f"${spent:.2f}"
            + (f" of ${summary.budget_usd:.2f}" if summary.budget_usd is not None else "")
        )
        self._overall.update(self._batch_task, total=summary.total, completed=ended, detail=detail)
        active = {job.id: job for job in self._store.jobs(self._batch_id, states=_ACTIVE)}
        for job_id in [j for j in self._job_tasks if j not in active]:
            self._jobs.remove_task(self._job_tasks.pop(job_id))
        for job in active.values():
            done = 100 if job.state in (JobState.COMPLETED, JobState.DOWNLOADING) else job.progress
            state = job.state.value.replace("_", " ")
            if job.id not in self._job_tasks:
                self._job_tasks[job.id] = self._jobs.add_task(
                    escape(job.key[:28]), total=100, completed=done, state=state
                )
            else:
                self._jobs.update(self._job_tasks[job.id], completed=done, state=state)


def summary_table(jobs: list[JobRow] | tuple[JobRow, ...], *, title: str) -> Table:
    """One row per job: key, state, length, size, cost and the reason for failures."""
    table = Table(title=title)
    for column in ("job", "state", "s", "size", "cost", "remote id / reason"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        cost = job.actual_cost if job.actual_cost is not None else Decimal(0)
        detail = _short_id(job.remote_id) if job.remote_id else ""
        if job.state not in (JobState.DONE,) and job.error:
            detail = f"{job.category.value if job.category else ''}: {job.error}"
        table.add_row(
            escape(job.key),
            job.state.value,
            str(job.seconds),
            job.size,
            f"${cost:.2f}",
            escape(detail),
        )
    return table


def _short_id(remote_id: str, width: int = 16) -> str:
    return remote_id if len(remote_id) <= width else remote_id[: width - 1] + "…"
