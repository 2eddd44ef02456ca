"""The job operations behind :class:`reelforge.store.Store`: each runs inside one write
transaction the caller opened, reads the job's row locked, and appends its event in the same
transaction as the change it records."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypedDict

from sqlalchemy import Connection, RowMapping, select, update

from reelforge.core.errors import ErrorCategory, InvalidSpecError
from reelforge.core.models import JobState, Variant
from reelforge.store._sql import (
    append_event,
    apply_update,
    batch_row,
    clamp_progress,
    insert_for,
    job_row,
    jsonable,
)
from reelforge.store.errors import IllegalTransitionError
from reelforge.store.ids import fingerprint, job_id
from reelforge.store.rows import EventKind, NewJob
from reelforge.store.schema import assets, costs, job_events, jobs
from reelforge.store.transitions import can_retry, can_transition

__all__ = [
    "CREATED",
    "JobFields",
    "add_jobs",
    "record_asset",
    "record_note",
    "record_progress",
    "record_review",
    "retry",
    "transition",
]

_CHUNK = 500  # ids per ``IN (...)``: far below every database's parameter limit
_INSERT_SLICE = 5000
"""New jobs inserted per statement (with their cost rows and creation events)."""


class JobFields(TypedDict, total=False):
    """Columns a transition may set besides the state."""

    category: ErrorCategory | None
    error: str | None
    progress: int
    submitted_at: float | None
    completed_at: float | None
    expires_at: float | None
    estimated_cost: Decimal | None
    actual_cost: Decimal | None


_FIELD_NAMES = frozenset(JobFields.__annotations__)


def add_jobs(
    conn: Connection, batch_id: str, new: Sequence[NewJob], *, now: float
) -> list[tuple[str, NewJob]]:
    """Insert the jobs of ``new`` that the batch does not have yet; return them with their ids."""
    batch_row(conn, batch_id)
    by_id: dict[str, NewJob] = {}
    for item in new:
        identifier = job_id(batch_id, item.key)
        if identifier in by_id:
            raise InvalidSpecError(
                f"job key {item.key!r} appears twice in batch {batch_id!r}",
                field="key",
                value=item.key,
            )
        by_id[identifier] = item
    ids = list(by_id)
    existing: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        existing.update(conn.scalars(select(jobs.c.id).where(jobs.c.id.in_(chunk))))
    fresh = [(i, by_id[i]) for i in ids if i not in existing]
    # In slices, each statement many rows at once, so a batch of a million jobs holds one
    # slice's parameters at a time; the creation events keep the jobs' order.
    for start in range(0, len(fresh), _INSERT_SLICE):
        part = fresh[start : start + _INSERT_SLICE]
        conn.execute(jobs.insert(), [_job_values(batch_id, i, item, now) for i, item in part])
        conn.execute(
            costs.insert(),
            [
                {
                    "job_id": i,
                    "batch_id": batch_id,
                    "provider": item.spec.provider,
                    "model": item.spec.model,
                    "labels": dict(item.spec.labels),
                    "estimated": item.estimated_cost,
                }
                for i, item in part
            ],
        )
        conn.execute(
            job_events.insert(),
            [
                {
                    "job_id": i,
                    "batch_id": batch_id,
                    "at": now,
                    "kind": EventKind.STATE.value,
                    "state": JobState.PENDING.value,
                    "progress": 0,
                    "data": jsonable({"key": item.key, "position": item.position}),
                }
                for i, item in part
            ],
        )
    return fresh


def _job_values(batch_id: str, identifier: str, item: NewJob, now: float) -> dict[str, Any]:
    spec = item.spec
    return {
        "id": identifier,
        "batch_id": batch_id,
        "key": item.key,
        "position": item.position,
        "spec": spec.to_dict(),
        "provider": spec.provider,
        "account": item.account,
        "model": spec.model,
        "seconds": spec.seconds,
        "size": spec.size,
        "prompt": spec.prompt,
        "labels": dict(spec.labels),
        "state": JobState.PENDING.value,
        "attempt": 0,
        "fingerprint": fingerprint(spec),
        "progress": 0,
        "estimated_cost": item.estimated_cost,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def transition(
    conn: Connection,
    identifier: str,
    to: JobState,
    *,
    expect: Collection[JobState] | None,
    data: Mapping[str, Any] | None,
    fields: Mapping[str, Any],
    now: float,
) -> bool:
    """Move the job to ``to``; see :meth:`reelforge.store.Store.transition`."""
    unknown = set(fields) - _FIELD_NAMES
    if unknown:
        raise TypeError(f"transition() got unexpected fields: {sorted(unknown)}")
    row = job_row(conn, identifier)
    current = JobState(row["state"])
    if (expect is not None and current not in expect) or current == to:
        return False
    if not can_transition(current, to):
        raise IllegalTransitionError(identifier, current, to)
    reason = _fenced_elsewhere(row, current, to)
    if reason is not None:
        raise IllegalTransitionError(identifier, current, to, reason=reason)
    values: dict[str, Any] = {k: jsonable(v) if k == "category" else v for k, v in fields.items()}
    if "progress" in values:
        values["progress"] = clamp_progress(values["progress"])
    if to is JobState.COMPLETED and "completed_at" not in values:
        values["completed_at"] = now
    apply_update(conn, row, {**values, "state": to.value}, now=now)
    append_event(
        conn,
        job_id=identifier,
        batch_id=row["batch_id"],
        at=now,
        kind=EventKind.STATE,
        state=to,
        progress=values.get("progress", row["progress"]),
        data={"from": current, **fields, **(data or {})},
    )
    return True


CREATED = frozenset(
    {JobState.QUEUED, JobState.IN_PROGRESS, JobState.COMPLETED, JobState.DOWNLOADING, JobState.DONE}
)
"""States of a job that exists on the provider: a job in one of them always has a remote id."""


def _fenced_elsewhere(row: RowMapping, current: JobState, to: JobState) -> str | None:
    """Why an edge of the life cycle must go through a fenced method instead, if it must."""
    if to is JobState.SUBMITTING:
        return "a submission starts with record_intent()"
    if to in CREATED and row["remote_id"] is None:
        return "a job becomes created only with its remote id, through record_remote_id()"
    if current is JobState.SUBMITTING and to is JobState.WAITING:
        return "an intent is withdrawn only through clear_intent()"
    return None


def retry(conn: Connection, identifier: str, *, now: float) -> bool:
    """Send a failed or reviewed job back to ``waiting``; see the :class:`Store` method."""
    row = job_row(conn, identifier)
    current = JobState(row["state"])
    if current is JobState.WAITING:
        return False
    if not can_retry(current):
        raise IllegalTransitionError(identifier, current, JobState.WAITING)
    if (
        current is JobState.FAILED
        and row["category"] == ErrorCategory.DOWNLOAD.value
        and row["remote_id"] is not None
    ):
        return _retry_download(conn, row, now=now)
    apply_update(
        conn,
        row,
        {
            "state": JobState.WAITING.value,
            "remote_id": None,
            "intent_token": None,
            "intent_at": None,
            "resend_after": None,
            "category": None,
            "error": None,
            "progress": 0,
            "submitted_at": None,
            "completed_at": None,
            "expires_at": None,
        },
        now=now,
    )
    # A settled attempt leaves its reservation behind; the next attempt reserves afresh.
    conn.execute(
        update(costs)
        .where(costs.c.job_id == identifier, costs.c.settled_at.is_not(None))
        .values(reserved=None, reserved_at=None, settled_at=None)
    )
    append_event(
        conn,
        job_id=identifier,
        batch_id=row["batch_id"],
        at=now,
        kind=EventKind.STATE,
        state=JobState.WAITING,
        progress=0,
        data={
            "from": current,
            "retry": True,
            "previous_remote_id": row["remote_id"],
            "previous_category": row["category"],
        },
    )
    return True


def record_progress(
    conn: Connection, identifier: str, state: JobState, progress: int, *, now: float
) -> bool:
    """Record the provider's latest state and progress; see the :class:`Store` method."""
    row = job_row(conn, identifier)
    current = JobState(row["state"])
    progress = clamp_progress(progress)
    if state == current and progress == row["progress"]:
        return False
    if state != current:
        if not can_transition(current, state):
            raise IllegalTransitionError(identifier, current, state)
        reason = _fenced_elsewhere(row, current, state)
        if reason is not None:
            raise IllegalTransitionError(identifier, current, state, reason=reason)
    values: dict[str, Any] = {"state": state.value, "progress": progress}
    if state is JobState.COMPLETED and state != current:
        values["completed_at"] = now
    apply_update(conn, row, values, now=now)
    changed_state = state != current
    append_event(
        conn,
        job_id=identifier,
        batch_id=row["batch_id"],
        at=now,
        kind=EventKind.STATE if changed_state else EventKind.PROGRESS,
        state=state,
        progress=progress,
        data={"from": current} if changed_state else None,
    )
    return True


def record_asset(
    conn: Connection,
    identifier: str,
    variant: Variant,
    path: str,
    size: int,
    sha256: str,
    *,
    now: float,
    derived: bool = False,
) -> bool:
    """Record a verified asset; see :meth:`reelforge.store.Store.record_asset`."""
    row = job_row(conn, identifier)
    known = conn.execute(
        select(assets.c.path, assets.c.bytes, assets.c.sha256, assets.c.derived).where(
            assets.c.job_id == identifier, assets.c.variant == variant.value
        )
    ).first()
    if known is not None and tuple(known) == (path, size, sha256, derived):
        return False
    values = {
        "path": path,
        "bytes": size,
        "sha256": sha256,
        "downloaded_at": now,
        "derived": derived,
    }
    statement = insert_for(conn, assets).values(job_id=identifier, variant=variant.value, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=["job_id", "variant"], set_=values))
    append_event(
        conn,
        job_id=identifier,
        batch_id=row["batch_id"],
        at=now,
        kind=EventKind.ASSET,
        data={
            "variant": variant,
            "path": path,
            "bytes": size,
            "sha256": sha256,
            **({"derived": True} if derived else {}),
        },
    )
    return True


def record_note(
    conn: Connection, identifier: str, message: str, data: Mapping[str, Any] | None, *, now: float
) -> None:
    """Append a ``note`` event; see :meth:`reelforge.store.Store.record_note`."""
    row = job_row(conn, identifier)
    append_event(
        conn,
        job_id=identifier,
        batch_id=row["batch_id"],
        at=now,
        kind=EventKind.NOTE,
        state=JobState(row["state"]),
        progress=row["progress"],
        data={**(data or {}), "message": message},
    )


def record_review(
    conn: Connection, identifier: str, verdict: str, note: str, *, now: float
) -> None:
    """Append a ``review`` event; see :meth:`reelforge.store.Store.record_review`."""
    row = job_row(conn, identifier)
    append_event(
        conn,
        job_id=identifier,
        batch_id=row["batch_id"],
        at=now,
        kind=EventKind.REVIEW,
        state=JobState(row["state"]),
        progress=row["progress"],
        data={"verdict": verdict, "note": note},
    )


def _retry_download(conn: Connection, row: RowMapping, *, now: float) -> bool:
    """A job whose video was made but not fetched goes back to ``completed``: the download
    resumes; the video is never created (nor paid) again, and its settled cost stays."""
    apply_update(
        conn, row, {"state": JobState.COMPLETED.value, "category": None, "error": None}, now=now
    )
    append_event(
        conn,
        job_id=row["id"],
        batch_id=row["batch_id"],
        at=now,
        kind=EventKind.STATE,
        state=JobState.COMPLETED,
        progress=row["progress"],
        data={"from": JobState.FAILED, "retry": True, "download": True},
    )
    return True
