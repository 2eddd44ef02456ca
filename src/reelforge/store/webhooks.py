"""Provider webhook deliveries behind ``reelforge serve``'s receivers: which job a delivery
names, a record of each accepted delivery so that a redelivery changes nothing, and the
status a delivery carried, for the job's workflow to apply.

A delivery is recorded with the note it adds to its job's history in one write transaction:
either both are kept or neither, and the second of two identical deliveries (a provider's
retry, a replay) finds the row and adds nothing.

A verified delivery that says what a status check would (Replicate's prediction, fal's
result or error, the OpenAI protocol's ``video.completed``) keeps that status with the
delivery (:func:`record_delivery`'s ``status``). The job's workflow reads it on its next
check (:func:`pushed_statuses`) and applies it instead of asking the provider, then marks it
applied (:func:`mark_applied`). Only the provider's own words are kept: state, progress,
times and error; no URL, secret or token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, tuple_, update

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState, RemoteError, RemoteState, RemoteStatus
from reelforge.store._sql import append_event, insert_for, job_row
from reelforge.store.engine import read, write
from reelforge.store.rows import EventKind, JobRow
from reelforge.store.schema import jobs, webhook_deliveries
from reelforge.store.store import Store

__all__ = [
    "DELIVERY_ID_MAX",
    "Pushed",
    "find_job",
    "mark_applied",
    "pushed_statuses",
    "record_delivery",
    "seen",
    "status_from_json",
    "status_to_json",
]

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
    status: RemoteStatus | None = None,
) -> bool:
    """Record an accepted delivery and, when it names a job, a ``note`` event with ``message``
    and ``data`` in that job's history. ``status`` is what the verified delivery said about
    its provider job (``status.remote_id``), kept for the job's workflow to apply. Returns
    False, changing nothing, when the delivery was already recorded."""
    values: dict[str, Any] = {
        "scheme": scheme,
        "delivery_id": delivery_id[:DELIVERY_ID_MAX],
        "job_id": job_id,
        "received_at": store.now(),
    }
    if status is not None:  # else SQL NULL (a JSON column would keep Python's None as 'null')
        values.update(remote_id=status.remote_id, status=status_to_json(status))
    with write(store.engine) as conn:
        # RETURNING, not the row count: PostgreSQL's driver reports no count for an
        # INSERT … ON CONFLICT DO NOTHING here (-1), which read as "already recorded".
        inserted = conn.execute(
            insert_for(conn, webhook_deliveries)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(webhook_deliveries.c.delivery_id)
        ).first()
        if inserted is None:
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


@dataclass(frozen=True, kw_only=True, slots=True)
class Pushed:
    """A status a verified delivery carried, not yet applied to its job."""

    scheme: str
    delivery_id: str
    received_at: float
    status: RemoteStatus


def pushed_statuses(store: Store, *, job_id: str, remote_id: str, scheme: str) -> list[Pushed]:
    """The statuses verified deliveries of ``scheme`` carried about the provider job
    ``remote_id`` and that were not applied yet, oldest first: those recorded for ``job_id``,
    or for no job (a delivery that came before the job's remote id was recorded)."""
    with read(store.engine) as conn:
        rows = conn.execute(
            select(
                webhook_deliveries.c.delivery_id,
                webhook_deliveries.c.received_at,
                webhook_deliveries.c.status,
            )
            .where(
                webhook_deliveries.c.scheme == scheme,
                webhook_deliveries.c.remote_id == remote_id,
                webhook_deliveries.c.status.is_not(None),
                webhook_deliveries.c.applied_at.is_(None),
                or_(webhook_deliveries.c.job_id == job_id, webhook_deliveries.c.job_id.is_(None)),
            )
            .order_by(webhook_deliveries.c.received_at, webhook_deliveries.c.delivery_id)
        ).all()
    found: list[Pushed] = []
    for delivery_id, received_at, raw in rows:
        status = status_from_json(raw, remote_id)
        if status is not None:
            found.append(
                Pushed(
                    scheme=scheme, delivery_id=delivery_id, received_at=received_at, status=status
                )
            )
    return found


def mark_applied(store: Store, pushed: Sequence[Pushed]) -> None:
    """Record that ``pushed`` were applied (or passed over): they are not read again."""
    if not pushed:
        return
    keys = [(p.scheme, p.delivery_id) for p in pushed]
    with write(store.engine) as conn:
        conn.execute(
            update(webhook_deliveries)
            .where(
                tuple_(webhook_deliveries.c.scheme, webhook_deliveries.c.delivery_id).in_(keys),
                webhook_deliveries.c.applied_at.is_(None),
            )
            .values(applied_at=store.now())
        )


def status_to_json(status: RemoteStatus) -> dict[str, Any]:
    """The parts of ``status`` a delivery keeps (no URL, input, prompt or token)."""
    error = status.error
    return {
        "state": status.state.value,
        "progress": status.progress,
        "created_at": status.created_at,
        "completed_at": status.completed_at,
        "expires_at": status.expires_at,
        "provider_status": status.provider_status,
        "error": (
            {"category": error.category.value, "message": error.message, "code": error.code}
            if error is not None
            else None
        ),
    }


def status_from_json(raw: object, remote_id: str) -> RemoteStatus | None:
    """The status :func:`status_to_json` kept, or None if it cannot be read."""
    if not isinstance(raw, Mapping):
        return None
    try:
        error = raw.get("error")
        return RemoteStatus(
            remote_id=remote_id,
            state=RemoteState(raw["state"]),
            progress=int(raw.get("progress") or 0),
            created_at=_number(raw.get("created_at")),
            completed_at=_number(raw.get("completed_at")),
            expires_at=_number(raw.get("expires_at")),
            provider_status=_text(raw.get("provider_status")),
            error=(
                RemoteError(
                    category=ErrorCategory(error["category"]),
                    message=str(error["message"]),
                    code=_text(error.get("code")),
                )
                if isinstance(error, Mapping)
                else None
            ),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
