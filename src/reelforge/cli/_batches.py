"""What the batch commands share: opening the store, finding batches and jobs, their JSON form."""

from __future__ import annotations

from decimal import Decimal

from reelforge.core.config import display_url
from reelforge.core.errors import InvalidSpecError
from reelforge.core.paths import check_database, database_location
from reelforge.engine.outcome import FINAL
from reelforge.store import (
    BatchNotFoundError,
    BatchRow,
    BatchSummary,
    JobNotFoundError,
    JobRow,
    Store,
)
from reelforge.store.engine import opening

__all__ = [
    "active_count",
    "batch_dict",
    "find_batch",
    "find_job",
    "job_dict",
    "money",
    "open_store",
]


def open_store(db: str | None) -> Store:
    """The store at ``--db`` (or ``REELFORGE_DB_URL``, or the default file), schema up to date;
    an unusable database is bad input (exit 2) in one line."""
    url = check_database(database_location(db))
    store = Store(url)
    try:
        with opening(url):
            store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def find_batch(store: Store, batch_id: str | None) -> BatchRow:
    """The named batch, or the most recent one; bad input (exit 2) listing the known batches."""
    known = store.batches()
    if batch_id is None:
        if not known:
            raise InvalidSpecError(
                f"no batches yet in {_where(store)}: run one with `reelforge run`", field="batch"
            )
        return max(known, key=lambda row: (row.created_at, row.id))
    try:
        return store.get_batch(batch_id)
    except BatchNotFoundError:
        names = ", ".join(row.id for row in known) or f"none yet in {_where(store)}"
        raise InvalidSpecError(
            f"unknown batch {batch_id!r}; known batches: {names}", field="batch", value=batch_id
        ) from None


def find_job(store: Store, ref: str) -> JobRow:
    """A job by id, or by key when exactly one job has that key; bad input otherwise."""
    try:
        return store.get_job(ref)
    except JobNotFoundError:
        pass
    same_key = [job for job in store.jobs() if job.key == ref]
    if len(same_key) == 1:
        return same_key[0]
    if same_key:
        ids = ", ".join(job.id for job in same_key)
        raise InvalidSpecError(
            f"job key {ref!r} is in several batches; give its id: {ids}", field="job", value=ref
        )
    raise InvalidSpecError(
        f"unknown job {ref!r} (give a job id or key; `reelforge status BATCH` lists them)",
        field="job",
        value=ref,
    )


def active_count(summary: BatchSummary) -> int:
    """Jobs of the batch that have not ended yet."""
    return summary.total - sum(summary.counts[state] for state in FINAL)


def money(value: Decimal | None) -> str | None:
    """A dollar amount as a JSON string (exact), or None."""
    return str(value) if value is not None else None


def batch_dict(batch: BatchRow, summary: BatchSummary) -> dict[str, object]:
    """The JSON form of a batch line."""
    return {
        "id": batch.id,
        "name": batch.name,
        "state": batch.state.value,
        "created_at": batch.created_at,
        "jobs": summary.total,
        "active": active_count(summary),
        "counts": {state.value: n for state, n in summary.counts.items() if n},
        "cost": {
            "estimated": money(summary.estimated),
            "reserved": money(summary.reserved),
            "actual": money(summary.actual),
            "budget": money(summary.budget_usd),
        },
        "out_dir": batch.out_dir,
    }


def job_dict(job: JobRow) -> dict[str, object]:
    """The JSON form of a job line."""
    return {
        "id": job.id,
        "batch": job.batch_id,
        "key": job.key,
        "state": job.state.value,
        "progress": job.progress,
        "remote_id": job.remote_id,
        "attempt": job.attempt,
        "cost": {"estimated": money(job.estimated_cost), "actual": money(job.actual_cost)},
        "category": job.category.value if job.category else None,
        "error": job.error,
        "labels": dict(job.labels),
    }


def _where(store: Store) -> str:
    return display_url(store.url)
