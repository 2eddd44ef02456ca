"""Exactly-once submission support behind :class:`reelforge.store.Store` (DESIGN section 5):
the intent committed before the create request, the fenced remote id after it, and the
withdrawal of an intent whose request provably created nothing."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState
from reelforge.store._sql import append_event, apply_update, clamp_progress, job_row
from reelforge.store.errors import IllegalTransitionError, RemoteIdConflictError
from reelforge.store.rows import EventKind
from reelforge.store.schema import jobs
from reelforge.store.transitions import can_transition

__all__ = ["clear_intent", "record_intent", "record_remote_id", "set_resend_after"]


def record_intent(
    conn: Connection, identifier: str, *, now: float, window: float, at: float | None = None
) -> str:
    """Commit a submission intent; see :meth:`reelforge.store.Store.record_intent`."""
    row = job_row(conn, identifier)
    current = JobState(row["state"])
    if current is not JobState.WAITING:
        raise IllegalTransitionError(identifier, current, JobState.SUBMITTING)
    token = secrets.token_hex(16)
    attempt = row["attempt"] + 1
    intent_at = now if at is None else at
    apply_update(
        conn,
        row,
        {
            "state": JobState.SUBMITTING.value,
            "attempt": attempt,
            "intent_token": token,
            "intent_at": intent_at,
            "resend_after": intent_at + window,
        },
        now=now,
    )
    append_event(
        conn,
        job_id=identifier,
        batch_id=row["batch_id"],
        at=now,
        kind=EventKind.INTENT,
        state=JobState.SUBMITTING,
        progress=row["progress"],
        data={
            "from": current,
            "attempt": attempt,
            "fingerprint": row["fingerprint"],
            "resend_after": intent_at + window,
        },
    )
    return token


def set_resend_after(conn: Connection, identifier: str, token: str, at: float) -> bool:
    """Move the resend deadline of the intent ``token`` (never later than it was)."""
    row = job_row(conn, identifier)
    if row["intent_token"] != token or row["remote_id"] is not None:
        return False
    current = row["resend_after"]
    if current is not None and current <= at:
        return False
    conn.execute(jobs.update().where(jobs.c.id == identifier).values(resend_after=at))
    return True


_ADOPTABLE = frozenset({JobState.SUBMITTING, JobState.NEEDS_REVIEW})


def record_remote_id(
    conn: Connection,
    identifier: str,
    token: str,
    remote_id: str,
    *,
    state: JobState,
    progress: int,
    submitted_at: float | None,
    expires_at: float | None,
    data: Mapping[str, Any] | None,
    now: float,
) -> bool:
    """The fenced update of a remote id; see :meth:`reelforge.store.Store.record_remote_id`."""
    row = job_row(conn, identifier)
    if row["intent_token"] != token:
        return False
    if row["remote_id"] is not None:
        return bool(row["remote_id"] == remote_id)
    current = JobState(row["state"])
    if current not in _ADOPTABLE:
        return False
    if not can_transition(current, state):
        raise IllegalTransitionError(identifier, current, state)
    owner = conn.scalar(select(jobs.c.id).where(jobs.c.remote_id == remote_id))
    if owner is not None:
        raise RemoteIdConflictError(identifier, remote_id, owner)
    values: dict[str, Any] = {
        "remote_id": remote_id,
        "state": state.value,
        "progress": clamp_progress(progress),
        "submitted_at": submitted_at if submitted_at is not None else now,
        "expires_at": expires_at,
    }
    if state is JobState.COMPLETED:
        values["completed_at"] = now
    apply_update(conn, row, values, now=now)
    append_event(
        conn,
        job_id=identifier,
        batch_id=row["batch_id"],
        at=now,
        kind=EventKind.REMOTE_ID,
        state=state,
        progress=values["progress"],
        data={"from": current, "remote_id": remote_id, "attempt": row["attempt"], **(data or {})},
    )
    return True


_CLEAR_TO = frozenset({JobState.WAITING, JobState.FAILED})


def clear_intent(
    conn: Connection,
    identifier: str,
    token: str,
    *,
    to: JobState,
    category: ErrorCategory | None,
    error: str | None,
    now: float,
    data: Mapping[str, Any] | None = None,
) -> bool:
    """Withdraw an intent that provably created nothing; see the :class:`Store` method."""
    if to not in _CLEAR_TO:
        raise ValueError(f"clear_intent() goes to waiting or failed, not {to.value!r}")
    row = job_row(conn, identifier)
    current = JobState(row["state"])
    if (
        row["intent_token"] != token
        or row["remote_id"] is not None
        or current is not JobState.SUBMITTING
    ):
        return False
    values: dict[str, Any] = {
        "state": to.value,
        "intent_token": None,
        "intent_at": None,
        "resend_after": None,
        "category": category.value if category is not None else None,
        "error": error,
    }
    apply_update(conn, row, values, now=now)
    append_event(
        conn,
        job_id=identifier,
        batch_id=row["batch_id"],
        at=now,
        kind=EventKind.STATE,
        state=to,
        progress=row["progress"],
        data={
            "from": current,
            "intent_cleared": True,
            "category": category,
            "error": error,
            **(data or {}),
        },
    )
    return True
