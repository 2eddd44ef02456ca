"""Sink bookkeeping behind :class:`reelforge.store.Store`: one cursor per sink into the
``job_events`` outbox, and the remote object a sink keeps per job.

Every function runs inside the caller's transaction. A cursor only ever moves forward: an
advance to an event id at or below the stored one changes no cursor (the counters still add).
Nothing here ever holds a secret: a sink's name is derived from its destination without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, RowMapping, func, select

from reelforge.store._sql import insert_for
from reelforge.store.schema import job_events, sink_cursors, sink_pages

__all__ = [
    "Backlog",
    "SinkCursor",
    "advance",
    "backlog",
    "cursors",
    "disable",
    "enable",
    "external_id",
    "read_cursor",
    "record_error",
    "record_external_id",
]

_ERROR_LIMIT = 2000
"""Characters of an error message kept in ``last_error``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SinkCursor:
    """How far one sink has delivered the outbox, and how it went."""

    name: str
    cursor: int = 0
    """The id of the last event delivered (or skipped); 0 before the first."""
    delivered: int = 0
    skipped: int = 0
    """Events the destination refused for good (recorded, then passed over)."""
    last_error: str | None = None
    last_error_at: float | None = None
    disabled: bool = False
    disabled_reason: str | None = None
    updated_at: float | None = None
    """None while the sink has no row yet (it never delivered, failed or was disabled)."""

    @classmethod
    def from_mapping(cls, row: RowMapping) -> SinkCursor:
        """Build from a ``sink_cursors`` row."""
        return cls(
            name=row["name"],
            cursor=row["cursor"],
            delivered=row["delivered"],
            skipped=row["skipped"],
            last_error=row["last_error"],
            last_error_at=row["last_error_at"],
            disabled=bool(row["disabled"]),
            disabled_reason=row["disabled_reason"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Backlog:
    """The outbox events after a cursor."""

    events: int
    """How many events have an id above the cursor."""
    oldest_at: float | None
    """When the oldest of them was recorded (Unix seconds); None when there are none."""
    head: int
    """The id of the newest event in the outbox (0 when it is empty)."""


def _locked(conn: Connection, name: str, now: float) -> RowMapping:
    """The sink's row, created if missing and locked for the rest of the transaction."""
    conn.execute(
        insert_for(conn, sink_cursors)
        .values(name=name, cursor=0, delivered=0, skipped=0, disabled=False, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    query = select(sink_cursors).where(sink_cursors.c.name == name).with_for_update()
    return conn.execute(query).mappings().one()


def _clip(message: str) -> str:
    return message if len(message) <= _ERROR_LIMIT else message[: _ERROR_LIMIT - 1] + "…"


def read_cursor(conn: Connection, name: str) -> SinkCursor:
    """The sink's state; a blank one (cursor 0) if it has none yet."""
    row = conn.execute(select(sink_cursors).where(sink_cursors.c.name == name)).mappings().first()
    return SinkCursor.from_mapping(row) if row is not None else SinkCursor(name=name)


def cursors(conn: Connection, names: Sequence[str] | None) -> list[SinkCursor]:
    """The named sinks' states in the order given (blank for unknown names), or every sink
    the database knows, by name."""
    if names is None:
        rows = conn.execute(select(sink_cursors).order_by(sink_cursors.c.name)).mappings()
        return [SinkCursor.from_mapping(row) for row in rows]
    return [read_cursor(conn, name) for name in names]


def advance(
    conn: Connection,
    name: str,
    cursor: int,
    *,
    delivered: int,
    skipped: int,
    error: str | None,
    now: float,
) -> SinkCursor:
    """Move the cursor forward to ``cursor`` (never back) and add to the counters; ``error``
    (the reason a skipped event was refused) becomes the last error."""
    row = _locked(conn, name, now)
    values: dict[str, object] = {
        "cursor": max(int(row["cursor"]), int(cursor)),
        "delivered": row["delivered"] + delivered,
        "skipped": row["skipped"] + skipped,
        "updated_at": now,
    }
    if error is not None:
        values.update(last_error=_clip(error), last_error_at=now)
    conn.execute(sink_cursors.update().where(sink_cursors.c.name == name).values(**values))
    return read_cursor(conn, name)


def record_error(conn: Connection, name: str, error: str, *, now: float) -> None:
    """Remember the sink's latest failure (its cursor is left alone)."""
    _locked(conn, name, now)
    conn.execute(
        sink_cursors.update()
        .where(sink_cursors.c.name == name)
        .values(last_error=_clip(error), last_error_at=now, updated_at=now)
    )


def disable(conn: Connection, name: str, reason: str, *, now: float) -> None:
    """Mark the sink disabled: runners skip it until :func:`enable`."""
    _locked(conn, name, now)
    conn.execute(
        sink_cursors.update()
        .where(sink_cursors.c.name == name)
        .values(
            disabled=True,
            disabled_reason=_clip(reason),
            last_error=_clip(reason),
            last_error_at=now,
            updated_at=now,
        )
    )


def enable(conn: Connection, name: str, *, now: float) -> bool:
    """Clear the sink's disabled mark; return whether it was disabled."""
    row = _locked(conn, name, now)
    conn.execute(
        sink_cursors.update()
        .where(sink_cursors.c.name == name)
        .values(disabled=False, disabled_reason=None, updated_at=now)
    )
    return bool(row["disabled"])


def backlog(conn: Connection, cursor: int) -> Backlog:
    """How many events lie after ``cursor``, the oldest one's time, and the outbox head."""
    count, oldest = conn.execute(
        select(func.count(), func.min(job_events.c.at)).where(job_events.c.id > cursor)
    ).one()
    head = conn.scalar(select(func.coalesce(func.max(job_events.c.id), 0)))
    return Backlog(events=int(count), oldest_at=oldest, head=int(head or 0))


def external_id(conn: Connection, sink: str, job_id: str) -> str | None:
    """The remote object ``sink`` keeps for the job, if it recorded one."""
    return conn.scalar(
        select(sink_pages.c.external_id).where(
            sink_pages.c.sink == sink, sink_pages.c.job_id == job_id
        )
    )


def count_external_ids(conn: Connection, sink: str) -> int:
    """How many jobs ``sink`` keeps a remote object for."""
    query = select(func.count()).select_from(sink_pages).where(sink_pages.c.sink == sink)
    return int(conn.execute(query).scalar_one())


def record_external_id(
    conn: Connection, sink: str, job_id: str, external: str, *, now: float
) -> None:
    """Remember (or replace) the remote object ``sink`` keeps for the job."""
    values = {"external_id": external, "updated_at": now}
    statement = insert_for(conn, sink_pages).values(sink=sink, job_id=job_id, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=["sink", "job_id"], set_=values))
