"""``reelforge status`` and ``reelforge watch``: read a batch's state from the store.

Both only read the database (no engine is started), so they work from another terminal while
``reelforge run`` is working on the batch.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from reelforge.cli._batches import active_count, batch_dict, find_batch, job_dict, open_store
from reelforge.cli._common import err_console, out_console, print_json, reelforge_errors
from reelforge.cli._options import DbOption
from reelforge.cli.live import BatchView, summary_table
from reelforge.store import BatchRow, BatchSummary, JobRow, Store

__all__ = ["status", "watch"]

BatchArgument = Annotated[
    str | None,
    typer.Argument(help="A batch id (default: every batch).", show_default=False),
]


def status(
    batch: BatchArgument = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show every batch, one line each; or, given BATCH, one row per job.

    Read-only: it works while `reelforge run` is running. Exit 2 for an unknown batch.
    """
    with reelforge_errors(), open_store(db) as store:
        if batch is None:
            rows = [(row, store.batch_summary(row.id)) for row in store.batches()]
            if as_json:
                print_json({"batches": [batch_dict(row, summary) for row, summary in rows]})
            elif not rows:
                out_console.print("No batches yet: run one with `reelforge run BATCH_FILE`.")
            else:
                out_console.print(_batches_table(rows))
            return
        row = find_batch(store, batch)
        summary = store.batch_summary(row.id)
        jobs = store.jobs(row.id)
        if as_json:
            print_json({"batch": batch_dict(row, summary), "jobs": [job_dict(j) for j in jobs]})
        else:
            out_console.print(_jobs_table(row, jobs))
            out_console.print(_totals(summary))


def watch(
    batch: Annotated[
        str | None,
        typer.Argument(help="A batch id (default: the most recent batch).", show_default=False),
    ] = None,
    db: DbOption = None,
    interval: Annotated[
        float, typer.Option(min=0.05, max=60.0, help="Seconds between refreshes.")
    ] = 0.5,
) -> None:
    """Follow a batch live until none of its jobs is active (Ctrl+C stops watching only).

    Read-only: run it in another terminal while `reelforge run` works on the batch.
    """
    with reelforge_errors(), open_store(db) as store:
        row = find_batch(store, batch)
        summary = _follow(store, row.id, interval)
        out_console.print(summary_table(store.jobs(row.id), title=f"batch {row.id}"))
        out_console.print(_totals(summary))


def _follow(store: Store, batch_id: str, interval: float) -> BatchSummary:
    view = BatchView(store, batch_id, console=err_console)
    with view.live:
        while True:
            summary = store.batch_summary(batch_id)
            view.update(summary)
            if active_count(summary) == 0:
                return summary
            time.sleep(interval)


def _batches_table(rows: list[tuple[BatchRow, BatchSummary]]) -> Table:
    table = Table(title="batches")
    for column in ("batch", "jobs", "states", "estimated", "actual", "budget"):
        table.add_column(column, overflow="fold")
    for row, summary in rows:
        states = ", ".join(f"{n} {state.value}" for state, n in summary.counts.items() if n)
        table.add_row(
            escape(row.id),
            str(summary.total),
            states or "-",
            f"${summary.estimated:.2f}",
            f"${summary.actual:.2f}",
            f"${summary.budget_usd:.2f}" if summary.budget_usd is not None else "-",
        )
    return table


def _jobs_table(batch: BatchRow, jobs: list[JobRow]) -> Table:
    table = Table(title=f"batch {batch.id}")
    for column in ("job", "id", "state", "%", "remote id", "cost", "reason"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        if job.actual_cost is not None:
            cost = f"${job.actual_cost:.2f}"
        else:
            cost = f"~${job.estimated_cost:.2f}" if job.estimated_cost is not None else "-"
        reason = f"{job.category.value}: {job.error}" if job.category else (job.error or "")
        table.add_row(
            escape(job.key),
            job.id,
            job.state.value,
            str(job.progress),
            escape(job.remote_id or ""),
            cost,
            escape(reason),
        )
    return table


def _totals(summary: BatchSummary) -> str:
    counts = ", ".join(f"{n} {state.value}" for state, n in summary.counts.items() if n)
    budget = f" of ${summary.budget_usd:.2f}" if summary.budget_usd is not None else ""
    return (
        f"{counts or 'no jobs'}; cost ${summary.actual:.2f}{budget} "
        f"(estimated ${summary.estimated:.2f})"
    )
