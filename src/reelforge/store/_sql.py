"""Small SQL helpers shared by the store's operations. Every function runs inside the caller's
transaction and never commits."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from reelforge.core.models import JobState
from reelforge.store.errors import BatchNotFoundError, JobNotFoundError, StoreError
from reelforge.store.rows import EventKind
from reelforge.store.schema import batches, job_events, jobs

__all__ = [
    "append_event",
    "apply_update",
    "batch_row",
    "clamp_progress",
    "insert_for",
    "job_row",
    "jsonable",
]


# Built once: the two lookups every step makes. A statement object kept and reused skips
# SQLAlchemy's construction and cache-key work on each call (both a measurable share of a
# job's CPU); the ids are bound parameters.
_JOB_BY_ID = select(jobs).where(jobs.c.id == bindparam("job_id"))
_JOB_BY_ID_LOCKED = _JOB_BY_ID.with_for_update()
_BATCH_BY_ID = select(batches).where(batches.c.id == bindparam("batch_id"))
_BATCH_BY_ID_LOCKED = _BATCH_BY_ID.with_for_update()


def job_row(conn: Connection, job_id: str, *, lock: bool = True) -> RowMapping:
    """The job's row; with ``lock``, locked for the rest of the transaction (``FOR UPDATE``
    where the database has it; SQLite's ``BEGIN IMMEDIATE`` already holds the write lock)."""
    query = _JOB_BY_ID_LOCKED if lock else _JOB_BY_ID
    row = conn.execute(query, {"job_id": job_id}).mappings().first()
    if row is None:
        raise JobNotFoundError(job_id)
    return row


def batch_row(conn: Connection, batch_id: str, *, lock: bool = True) -> RowMapping:
    """The batch's row, locked like :func:`job_row`."""
    query = _BATCH_BY_ID_LOCKED if lock else _BATCH_BY_ID
    row = conn.execute(query, {"batch_id": batch_id}).mappings().first()
    if row is None:
        raise BatchNotFoundError(batch_id)
    return row


def append_event(
    conn: Connection,
    *,
    job_id: str,
    batch_id: str,
    at: float,
    kind: EventKind,
    state: JobState | None = None,
    progress: int | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Append one row to ``job_events``."""
    conn.execute(
        job_events.insert().values(
            job_id=job_id,
            batch_id=batch_id,
            at=at,
            kind=kind.value,
            state=state.value if state is not None else None,
            progress=progress,
            data=jsonable(data) if data else None,
        )
    )


def jsonable(value: Any) -> Any:
    """``value`` with enums, decimals and mappings turned into plain JSON values."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def insert_for(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` for ``table`` that supports ``on_conflict_do_*`` on this connection's
    database (SQLite and Postgres spell it the same way in SQLAlchemy)."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the store supports SQLite and Postgres, not {name}")


def apply_update(
    conn: Connection,
    row: RowMapping,
    values: Mapping[str, Any],
    *,
    now: float,
) -> None:
    """Update the locked ``row`` with ``values``, bumping its version."""
    result = conn.execute(
        update(jobs)
        .where(jobs.c.id == row["id"], jobs.c.version == row["version"])
        .values(**values, updated_at=now, version=row["version"] + 1)
    )
    if result.rowcount != 1:  # pragma: no cover - the row is locked; this would be a bug
        raise StoreError(f"job {row['id']!r} changed under a locked update")


def clamp_progress(progress: int) -> int:
    """``progress`` as an integer percentage between 0 and 100."""
    return max(0, min(100, int(progress)))
