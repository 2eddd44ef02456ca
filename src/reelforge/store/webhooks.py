"""Provider webhook deliveries behind ``reelforge serve``'s receivers: which job a delivery
names, and a record of each accepted delivery so that a redelivery changes nothing.

A delivery is recorded with the note it adds to its job's history in one write transaction:
either both are kept or neither, and the second of two identical deliveries (a provider's
retry, a replay) finds the row and adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from reelforge.core.models import JobState
from reelforge.store._sql import append_event, insert_for, job_row
from reelforge.store.engine import read, write
from reelforge.store.rows import EventKind, JobRow
from reelforge.store.schema import jobs, webhook_deliveries
from reelforge.store.store import Store

__all__ = ["DELIVERY_ID_MAX", "find_job", "record_delivery", "seen"]

DELIVERY_ID_MAX = 256
"""The longest delivery id kept (``webhook_deliveries.delivery_id``)."""


def find_job(store: Store, *, token: str | None, remote_id: str | None) -> JobRow | None:
    """The job a delivery names: by the submission token its URL carried (the job's current
    intent token: a token of an abandoned create names nothing), else by the provider's id.
    When both are given they must name the same job (None otherwise)."""
    with read(store.engine) as conn:
        row = None
        if token:
            row = conn.execute(select(jobs).where(jobs.c.intent_token == token)).mappings().first()
            if row is None:
                return None
            if remote_id and row["remote_id"] is not None and row["remote_id"] != remote_id:
                return None
        elif remote_id:
            row = conn.execute(select(jobs).where(jobs.c.remote_id == remote_id)).mappings().first()
        if row is None:
            return None
    return store.get_job(row["id"])


def seen(store: Store, scheme: str, delivery_id: str) -> bool:
    """Whether the delivery was already accepted."""
    with read(store.engine) as conn:
        query = select(webhook_deliveries.c.scheme).where(
            webhook_deliveries.c.scheme == scheme,
            webhook_deliveries.c.delivery_id == delivery_id[:DELIVERY_ID_MAX],
        )
        return conn.execute(query).first() is not None


def record_delivery(
    store: Store,
    *,
    scheme: str,
    delivery_id: str,
    job_id: str | None,
    message: str,
    data: Mapping[str, Any] | None = None,
) -> bool:
    """Record an accepted delivery and, when it names a job, a ``note`` event with ``message``
    and ``data`` in that job's history. Returns False, changing nothing, when the delivery was
    already recorded."""
    with write(store.engine) as conn:
        inserted = conn.execute(
            insert_for(conn, webhook_deliveries)
            .values(
                scheme=scheme,
                delivery_id=delivery_id[:DELIVERY_ID_MAX],
                job_id=job_id,
                received_at=store.now(),
            )
            .on_conflict_do_nothing()
        )
        if inserted.rowcount != 1:
            return False
        if job_id is not None:
            row = job_row(conn, job_id)
            append_event(
                conn,
                job_id=job_id,
                batch_id=row["batch_id"],
                at=store.now(),
                kind=EventKind.NOTE,
                state=JobState(row["state"]),
                progress=row["progress"],
                data={**(data or {}), "message": message},
            )
        return True
