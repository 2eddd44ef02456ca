"""The :class:`Store`: our tables, one short transaction per method."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self, Unpack

from sqlalchemy import Connection, Engine, Select, func, select, tuple_

from reelforge.core.errors import ErrorCategory, InvalidSpecError
from reelforge.core.models import JobState, Variant
from reelforge.core.naming import is_safe_component
from reelforge.store import _executors, _jobs, _leases, _ledger, _sinks, _submission, migrate
from reelforge.store._executors import ExecutorRow
from reelforge.store._jobs import JobFields
from reelforge.store._leases import SinkLease
from reelforge.store._ledger import CostGrouping
from reelforge.store._sinks import Backlog, SinkCursor
from reelforge.store._sql import batch_row, insert_for, job_row
from reelforge.store.engine import make_engine, read, write
from reelforge.store.rows import (
    AssetRow,
    BatchRow,
    BatchState,
    BatchSummary,
    CapabilityRow,
    CostLine,
    EventKind,
    EventRow,
    JobRecord,
    JobRow,
    NewJob,
    Review,
    ReviewVerdict,
)
from reelforge.store.schema import assets, batches, endpoint_capabilities, job_events, jobs

__all__ = ["Store"]

DEFAULT_MAX_IN_FLIGHT = 4
_UNPAID = frozenset({JobState.FAILED, JobState.REJECTED, JobState.CANCELED})
"""Endings that cost nothing: entering one settles the job at zero and frees its reservation."""


def _assets_of(conn: Connection, job_id: str) -> list[AssetRow]:
    query = select(assets).where(assets.c.job_id == job_id).order_by(assets.c.variant)
    return [AssetRow.from_mapping(row) for row in conn.execute(query).mappings()]


def _history_of(conn: Connection, job_id: str) -> list[EventRow]:
    query = select(job_events).where(job_events.c.job_id == job_id).order_by(job_events.c.id)
    return [EventRow.from_mapping(row) for row in conn.execute(query).mappings()]


def _latest_review(job_id: str) -> Select[Any]:
    """The job's newest ``review`` event."""
    return (
        select(job_events)
        .where(job_events.c.job_id == job_id, job_events.c.kind == EventKind.REVIEW.value)
        .order_by(job_events.c.id.desc())
        .limit(1)
    )


class Store:
    """Batches, jobs, their event history, assets, the cost ledger and sink cursors, in one
    database.

    Every method is one short transaction; writes take SQLite's write lock at their start
    (``BEGIN IMMEDIATE``), so several processes can share one file. Call :meth:`migrate` once
    before use. Time comes from ``now`` (Unix seconds), so tests can fix it.
    """

    def __init__(self, url: str, *, now: Callable[[], float] = time.time) -> None:
        self._url = url
        self._now = now
        self._engine = make_engine(url)

    @classmethod
    def for_path(
        cls, path: str | os.PathLike[str], *, now: Callable[[], float] = time.time
    ) -> Store:
        """A store in the SQLite file at ``path`` (its folder is created if missing)."""
        file = Path(path).expanduser().resolve()
        file.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{file}", now=now)

    def now(self) -> float:
        """The store's clock (the engine's; tests give a fake one)."""
        return self._now()

    @property
    def url(self) -> str:
        """The database URL."""
        return self._url

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for migrations and tests; prefer the methods)."""
        return self._engine

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` (``alembic upgrade head``); safe to repeat and
        to run from several processes at once."""
        migrate.upgrade(self._engine, revision)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- batches ------------------------------------------------------------------------------

    def upsert_batch(
        self,
        batch_id: str,
        *,
        name: str,
        out_dir: str | os.PathLike[str],
        source: str | os.PathLike[str] | None = None,
        budget_usd: Decimal | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        rpm: int | None = None,
        flat: bool = False,
    ) -> BatchRow:
        """Create the batch, or update its settings; its state and creation time are kept.
        A ``flat`` batch (one job: ``reelforge generate``) writes its files straight into
        ``OUT/<batch>/``."""
        if not is_safe_component(batch_id):
            raise InvalidSpecError(
                f"batch id {batch_id!r} is not a safe name (letters, digits, . _ -)",
                field="batch_id",
                value=batch_id,
            )
        now = self._now()
        settings: dict[str, Any] = {
            "name": name,
            "out_dir": str(out_dir),
            "source": str(source) if source is not None else None,
            "budget_usd": budget_usd,
            "max_in_flight": max_in_flight,
            "rpm": rpm,
            "flat": flat,
            "updated_at": now,
        }
        with write(self._engine) as conn:
            statement = insert_for(conn, batches).values(
                id=batch_id, created_at=now, state=BatchState.OPEN.value, **settings
            )
            conn.execute(statement.on_conflict_do_update(index_elements=["id"], set_=settings))
            return BatchRow.from_mapping(batch_row(conn, batch_id, lock=False))

    def set_batch_state(self, batch_id: str, state: BatchState) -> None:
        """Mark the batch open, finished or canceled."""
        with write(self._engine) as conn:
            batch_row(conn, batch_id)
            conn.execute(
                batches.update()
                .where(batches.c.id == batch_id)
                .values(state=state.value, updated_at=self._now())
            )

    def get_batch(self, batch_id: str) -> BatchRow:
        """The batch; :class:`~reelforge.store.errors.BatchNotFoundError` if there is none."""
        with read(self._engine) as conn:
            return BatchRow.from_mapping(batch_row(conn, batch_id, lock=False))

    def batches(self) -> list[BatchRow]:
        """Every batch, oldest first."""
        with read(self._engine) as conn:
            rows = conn.execute(select(batches).order_by(batches.c.created_at, batches.c.id))
            return [BatchRow.from_mapping(row) for row in rows.mappings()]

    # -- jobs ---------------------------------------------------------------------------------

    def add_jobs(self, batch_id: str, jobs: Sequence[NewJob]) -> int:
        """Add the batch's jobs; return how many were new.

        Idempotent: a job whose key the batch already has is left exactly as it is (its spec
        is not replaced), so running the same batch again inserts and changes nothing. Each
        new job starts ``pending`` with a creation event and a row in the cost ledger; one with
        :attr:`NewJob.rejected` set moves on to ``rejected`` in the same transaction.
        """
        with write(self._engine) as conn:
            now = self._now()
            fresh = _jobs.add_jobs(conn, batch_id, jobs, now=now)
            for job_id, item in fresh:
                if item.rejected is not None:
                    _jobs.transition(
                        conn,
                        job_id,
                        JobState.REJECTED,
                        expect={JobState.PENDING},
                        data=None,
                        fields={"category": ErrorCategory.COMPLIANCE, "error": item.rejected},
                        now=now,
                    )
                    _ledger.settle(conn, job_id, Decimal(0), now=now, released=True)
            return len(fresh)

    def job_page(
        self,
        batch_id: str,
        *,
        after: tuple[int, str] | None = None,
        limit: int = 1000,
        skip: Iterable[JobState] = (),
    ) -> list[tuple[str, JobState, int, str]]:
        """``(id, state, position, account)`` of up to ``limit`` jobs of the batch in file
        order, from just after ``after`` (a ``(position, id)`` from the page before), leaving
        out jobs in ``skip``: a large batch read a page of a few columns at a time."""
        query = (
            select(jobs.c.id, jobs.c.state, jobs.c.position, jobs.c.account)
            .where(jobs.c.batch_id == batch_id)
            .order_by(jobs.c.position, jobs.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(jobs.c.position, jobs.c.id) > tuple_(*after))
        left_out = [JobState(s).value for s in skip]
        if left_out:
            query = query.where(jobs.c.state.not_in(left_out))
        with read(self._engine) as conn:
            return [(i, JobState(s), p, a) for i, s, p, a in conn.execute(query)]

    def get_job(self, job_id: str) -> JobRow:
        """The job; :class:`~reelforge.store.errors.JobNotFoundError` if there is none."""
        with read(self._engine) as conn:
            return JobRow.from_mapping(job_row(conn, job_id, lock=False))

    def jobs(
        self, batch_id: str | None = None, states: Iterable[JobState] | None = None
    ) -> list[JobRow]:
        """Jobs in file order, optionally of one batch and in some states."""
        query = select(jobs).order_by(jobs.c.batch_id, jobs.c.position, jobs.c.id)
        if batch_id is not None:
            query = query.where(jobs.c.batch_id == batch_id)
        if states is not None:
            query = query.where(jobs.c.state.in_([JobState(s).value for s in states]))
        with read(self._engine) as conn:
            return [JobRow.from_mapping(row) for row in conn.execute(query).mappings()]

    def find_by_remote_id(self, remote_id: str) -> JobRow | None:
        """The job that holds the provider's ``remote_id``, if any."""
        with read(self._engine) as conn:
            row = conn.execute(select(jobs).where(jobs.c.remote_id == remote_id)).mappings().first()
            return JobRow.from_mapping(row) if row is not None else None

    def batch_summary(self, batch_id: str) -> BatchSummary:
        """How many jobs are in each state, and the batch's estimated, reserved and actual cost."""
        with read(self._engine) as conn:
            return _ledger.summary(conn, batch_id)

    # -- the life cycle -----------------------------------------------------------------------

    def transition(
        self,
        job_id: str,
        to: JobState,
        *,
        expect: Iterable[JobState] | None = None,
        data: Mapping[str, Any] | None = None,
        **fields: Unpack[JobFields],
    ) -> bool:
        """Move the job to ``to``, set ``fields``, and append a ``state`` event, atomically.

        With ``expect``, nothing happens (and False is returned) unless the job is in one of
        those states. A job already in ``to`` is left alone (False). An edge the life cycle
        does not have raises :class:`~reelforge.store.errors.IllegalTransitionError`; that
        includes leaving a terminal state, and ``failed`` → ``waiting`` (use :meth:`retry`).
        ``data`` is added to the event. Entering ``failed``, ``rejected`` or ``canceled``
        also settles the job at zero and frees its reservation, in the same transaction.

        Three edges go through fenced methods instead, and raise here: into ``submitting``
        (:meth:`record_intent`), into a state that exists on the provider while the job has
        no remote id (:meth:`record_remote_id`), and ``submitting`` → ``waiting``
        (:meth:`clear_intent`). So a job that is ``queued`` or later always has its remote id.
        """
        expected = None if expect is None else frozenset(JobState(s) for s in expect)
        with write(self._engine) as conn:
            moved = _jobs.transition(
                conn, job_id, to, expect=expected, data=data, fields=fields, now=self._now()
            )
            if moved and to in _UNPAID:
                # In the same transaction: a job that ends unpaid never keeps money held.
                _ledger.settle(conn, job_id, Decimal(0), now=self._now(), released=True)
            return moved

    def retry(self, job_id: str) -> bool:
        """The explicit retry: a ``failed`` or ``needs_review`` job goes back to ``waiting``.

        The remote id, intent, error and progress are cleared (the event keeps the old remote
        id); a settled cost stays in the ledger and the next attempt reserves afresh. Returns
        False if the job is already ``waiting``.
        """
        with write(self._engine) as conn:
            return _jobs.retry(conn, job_id, now=self._now())

    def record_intent(self, job_id: str, *, window: float = 120.0, at: float | None = None) -> str:
        """Commit the intent to submit (DESIGN section 5, step 1) and return its token.

        The job must be ``waiting``; it becomes ``submitting`` with ``attempt`` + 1, a fresh
        random ``intent_token``, ``intent_at``, and ``resend_after`` ``window`` seconds later
        (until then an unlisted create may still arrive). Calling it on a job that is already
        ``submitting`` raises: an earlier request may be out, so that job is reconciled,
        never submitted again blindly. ``at`` records an intent made earlier (found in the
        output folder's ``job.json``) at its own time.
        """
        with write(self._engine) as conn:
            return _submission.record_intent(conn, job_id, now=self._now(), window=window, at=at)

    def set_resend_after(self, job_id: str, token: str, at: float) -> bool:
        """Bring the intent's ``resend_after`` forward to ``at`` (the create's request is known
        to have ended: the server answered). Never moves it later; fenced by ``token``."""
        with write(self._engine) as conn:
            return _submission.set_resend_after(conn, job_id, token, at)

    def record_remote_id(
        self,
        job_id: str,
        token: str,
        remote_id: str,
        *,
        state: JobState = JobState.QUEUED,
        progress: int = 0,
        submitted_at: float | None = None,
        expires_at: float | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> bool:
        """Record the provider's id for the job: the fenced update of DESIGN section 5, step 3.

        Applies only if the job's ``intent_token`` is still ``token`` and it has no remote id
        yet (from ``submitting``, or from ``needs_review`` when reconciliation adopts a match);
        the job moves to ``state``. Returns True if applied, or if this very remote id was
        already recorded under this token (a repeated step); False for a stale token or when
        another remote id is already there. A remote id owned by another job raises
        :class:`~reelforge.store.errors.RemoteIdConflictError`.
        """
        with write(self._engine) as conn:
            return _submission.record_remote_id(
                conn,
                job_id,
                token,
                remote_id,
                state=state,
                progress=progress,
                submitted_at=submitted_at,
                expires_at=expires_at,
                data=data,
                now=self._now(),
            )

    def clear_intent(
        self,
        job_id: str,
        token: str,
        *,
        to: JobState = JobState.WAITING,
        category: ErrorCategory | None = None,
        error: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> bool:
        """Withdraw an intent whose request provably created nothing (connection refused,
        429, a 4xx rejection): the job goes back to ``waiting`` (to try again) or to
        ``failed``. ``data`` is added to the event (the server's error code, param, request
        id). Fenced like :meth:`record_remote_id`; returns whether it applied."""
        with write(self._engine) as conn:
            cleared = _submission.clear_intent(
                conn,
                job_id,
                token,
                to=to,
                category=category,
                error=error,
                now=self._now(),
                data=data,
            )
            if cleared and to in _UNPAID:
                _ledger.settle(conn, job_id, Decimal(0), now=self._now(), released=True)
            return cleared

    def record_progress(self, job_id: str, state: JobState, progress: int) -> bool:
        """Record the provider's state and progress (0-100); an event is appended only when
        something changed. Returns whether anything changed."""
        with write(self._engine) as conn:
            return _jobs.record_progress(conn, job_id, state, progress, now=self._now())

    def record_note(self, job_id: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        """Append a ``note`` event to the job's history (a warning, a reconciliation finding)."""
        with write(self._engine) as conn:
            _jobs.record_note(conn, job_id, message, data, now=self._now())

    def record_review(self, job_id: str, verdict: ReviewVerdict, note: str = "") -> Review:
        """Record a person's verdict on the job's clip as a ``review`` event (so it reaches
        the sinks like any other event); the job's state does not change. The latest review
        is the one that counts."""
        verdict = ReviewVerdict(verdict)
        with write(self._engine) as conn:
            _jobs.record_review(conn, job_id, verdict.value, note, now=self._now())
            row = conn.execute(_latest_review(job_id)).mappings().one()
            return Review.from_event(EventRow.from_mapping(row))

    def latest_review(self, job_id: str) -> Review | None:
        """The job's latest review, if a person gave one."""
        with read(self._engine) as conn:
            row = conn.execute(_latest_review(job_id)).mappings().first()
            return Review.from_event(EventRow.from_mapping(row)) if row is not None else None

    def reviews(self, batch_id: str) -> dict[str, Review]:
        """The latest review of each reviewed job of the batch, by job id."""
        latest = (
            select(func.max(job_events.c.id))
            .where(job_events.c.batch_id == batch_id, job_events.c.kind == EventKind.REVIEW.value)
            .group_by(job_events.c.job_id)
        )
        query = select(job_events).where(job_events.c.id.in_(latest))
        with read(self._engine) as conn:
            events = [EventRow.from_mapping(row) for row in conn.execute(query).mappings()]
        return {event.job_id: Review.from_event(event) for event in events}

    # -- assets -------------------------------------------------------------------------------

    def record_asset(
        self,
        job_id: str,
        variant: Variant,
        path: str | os.PathLike[str],
        bytes: int,
        sha256: str,
        *,
        derived: bool = False,
    ) -> bool:
        """Record a downloaded, verified asset (replacing an earlier one of the same variant);
        ``derived`` when reelforge made it from the video. Returns False, appending no event,
        if exactly this file was already recorded."""
        with write(self._engine) as conn:
            return _jobs.record_asset(
                conn,
                job_id,
                Variant(variant),
                str(path),
                bytes,
                sha256,
                now=self._now(),
                derived=derived,
            )

    # -- endpoint capabilities ------------------------------------------------------------------

    def set_capability(
        self, account: str, capability: str, *, supported: bool, detail: str | None = None
    ) -> None:
        """Remember what ``account``'s endpoint was seen to offer or refuse (``list``,
        ``delete``, ``variant:thumbnail``, ``range``, ``poll_hint``)."""
        values = {"supported": supported, "detail": detail, "observed_at": self._now()}
        with write(self._engine) as conn:
            statement = insert_for(conn, endpoint_capabilities).values(
                account=account, capability=capability, **values
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["account", "capability"], set_=values
                )
            )

    def capabilities(self, account: str) -> dict[str, CapabilityRow]:
        """What ``account``'s endpoint was seen to offer or refuse, by capability."""
        with read(self._engine) as conn:
            rows = conn.execute(
                select(endpoint_capabilities).where(endpoint_capabilities.c.account == account)
            )
            return {row["capability"]: CapabilityRow.from_mapping(row) for row in rows.mappings()}

    def supports(self, account: str, capability: str) -> bool | None:
        """Whether ``account``'s endpoint offers ``capability``: ``None`` until seen."""
        found = self.capabilities(account).get(capability)
        return found.supported if found is not None else None

    def assets(self, job_id: str) -> list[AssetRow]:
        """The job's recorded assets."""
        with read(self._engine) as conn:
            return _assets_of(conn, job_id)

    # -- costs --------------------------------------------------------------------------------

    def reserve(self, job_id: str, amount: Decimal, budget: Decimal | None = None) -> bool:
        """Hold ``amount`` for the job against its batch's budget, in one immediate transaction.

        The cap is ``budget`` if given, else the batch's ``budget_usd`` (None: no cap). The
        reservation is made only if money already spent by the batch, plus its open
        reservations, plus ``amount`` stays within the cap; returns whether it was. Idempotent
        per job: a job that already holds an open reservation gets True and nothing changes.
        """
        with write(self._engine) as conn:
            return _ledger.reserve(conn, job_id, Decimal(amount), budget, now=self._now())

    def settle(self, job_id: str, actual: Decimal) -> bool:
        """Settle the job's cost at ``actual``; its reservation is released. Idempotent: a
        job already settled is left alone (False)."""
        with write(self._engine) as conn:
            return _ledger.settle(conn, job_id, Decimal(actual), now=self._now(), released=False)

    def release(self, job_id: str) -> bool:
        """Settle a job that cost nothing (failed, rejected, canceled): actual 0, reservation
        released. Idempotent like :meth:`settle`."""
        with write(self._engine) as conn:
            return _ledger.settle(conn, job_id, Decimal(0), now=self._now(), released=True)

    def cost_report(
        self, batch_id: str | None = None, by: CostGrouping | None = None
    ) -> list[CostLine]:
        """Jobs, estimated and actual cost per batch, provider, model or brand (the ``brand``
        label), or one ``all`` line; optionally for one batch only. Lines are sorted by
        group."""
        with read(self._engine) as conn:
            return _ledger.cost_report(conn, batch_id, by)

    # -- events -------------------------------------------------------------------------------

    def events_after(self, cursor: int = 0, limit: int = 100) -> list[EventRow]:
        """Up to ``limit`` events with an id above ``cursor``, oldest first (a sink's read)."""
        query = select(job_events).where(job_events.c.id > cursor).order_by(job_events.c.id)
        with read(self._engine) as conn:
            rows = conn.execute(query.limit(limit)).mappings()
            return [EventRow.from_mapping(row) for row in rows]

    def job_record(self, job_id: str) -> JobRecord:
        """The job, its batch, its assets and its status history, in one read transaction."""
        with read(self._engine) as conn:
            job = JobRow.from_mapping(job_row(conn, job_id, lock=False))
            return JobRecord(
                job=job,
                batch=BatchRow.from_mapping(batch_row(conn, job.batch_id, lock=False)),
                assets=_assets_of(conn, job_id),
                history=_history_of(conn, job_id),
            )

    def history(self, job_id: str) -> list[EventRow]:
        """Every event of one job, oldest first (its status history)."""
        with read(self._engine) as conn:
            return _history_of(conn, job_id)

    # -- sinks --------------------------------------------------------------------------------

    def sink_cursor(self, name: str) -> SinkCursor:
        """How far the sink ``name`` has delivered the outbox (cursor 0 if it never has)."""
        with read(self._engine) as conn:
            return _sinks.read_cursor(conn, name)

    def sink_cursors(self, names: Sequence[str] | None = None) -> list[SinkCursor]:
        """The named sinks' states in that order, or every sink the database knows, by name."""
        with read(self._engine) as conn:
            return _sinks.cursors(conn, names)

    def advance_sink(
        self,
        name: str,
        cursor: int,
        *,
        delivered: int = 0,
        skipped: int = 0,
        error: str | None = None,
    ) -> SinkCursor:
        """Move the sink's cursor forward to event ``cursor`` and add to its counters.

        The cursor never moves back: an older ``cursor`` leaves it where it is. ``error`` (why
        a skipped event was refused) becomes the sink's last error. Returns the new state.
        """
        with write(self._engine) as conn:
            return _sinks.advance(
                conn,
                name,
                cursor,
                delivered=delivered,
                skipped=skipped,
                error=error,
                now=self._now(),
            )

    def record_sink_error(self, name: str, error: str) -> None:
        """Remember the sink's latest failure; its cursor stays where it is."""
        with write(self._engine) as conn:
            _sinks.record_error(conn, name, error, now=self._now())

    def disable_sink(self, name: str, reason: str) -> None:
        """Mark the sink disabled (its destination asked to stop); runners skip it until
        :meth:`enable_sink`."""
        with write(self._engine) as conn:
            _sinks.disable(conn, name, reason, now=self._now())

    def enable_sink(self, name: str) -> bool:
        """Clear the sink's disabled mark; returns whether it was disabled. It resumes from its
        cursor, so nothing recorded meanwhile is lost."""
        with write(self._engine) as conn:
            return _sinks.enable(conn, name, now=self._now())

    def acquire_sink_lease(self, name: str, owner: str, *, ttl: float) -> SinkLease:
        """Take the sink's lease for ``ttl`` seconds when nobody holds it, it expired, it is
        already ``owner``'s, or its holder was a process on this host that is gone. Returns the
        lease as it stands: ``owner``'s when taken, else the holder's."""
        with write(self._engine) as conn:
            return _leases.acquire(conn, name, owner, ttl=ttl, now=self._now())

    def renew_sink_lease(self, name: str, owner: str, *, ttl: float) -> bool:
        """Extend ``owner``'s lease on the sink by ``ttl`` seconds from now; False when
        ``owner`` no longer holds it (another runner took it over after it expired)."""
        with write(self._engine) as conn:
            return _leases.renew(conn, name, owner, ttl=ttl, now=self._now())

    def release_sink_lease(self, name: str, owner: str) -> bool:
        """Give up ``owner``'s lease on the sink; returns whether ``owner`` held it."""
        with write(self._engine) as conn:
            return _leases.release(conn, name, owner)

    def sink_lease(self, name: str) -> SinkLease | None:
        """The sink's lease, expired or not; None when nobody holds it."""
        with read(self._engine) as conn:
            return _leases.read(conn, name)

    def outbox_backlog(self, cursor: int) -> Backlog:
        """The events after ``cursor``: how many, when the oldest was recorded, and the head."""
        with read(self._engine) as conn:
            return _sinks.backlog(conn, cursor)

    def external_id(self, sink: str, job_id: str) -> str | None:
        """The remote object (a Notion page id…) the sink ``sink`` keeps for the job, if any."""
        with read(self._engine) as conn:
            return _sinks.external_id(conn, sink, job_id)

    def count_external_ids(self, sink: str) -> int:
        """How many jobs the sink ``sink`` keeps a remote object for."""
        with read(self._engine) as conn:
            return _sinks.count_external_ids(conn, sink)

    def record_external_id(self, sink: str, job_id: str, external_id: str) -> None:
        """Remember the remote object the sink ``sink`` keeps for the job (replacing any)."""
        with write(self._engine) as conn:
            _sinks.record_external_id(conn, sink, job_id, external_id, now=self._now())

    # -- executors ----------------------------------------------------------------------------

    def register_executor(self, executor_id: str, *, command: str, ttl: float) -> ExecutorRow:
        """Record this process as a running executor, its lease lasting ``ttl`` seconds."""
        with write(self._engine) as conn:
            return _executors.register(conn, executor_id, command=command, ttl=ttl, now=self._now())

    def renew_executor(self, executor_id: str, *, ttl: float) -> bool:
        """Extend the executor's lease; False if it had expired or was forgotten."""
        with write(self._engine) as conn:
            return _executors.renew(conn, executor_id, ttl=ttl, now=self._now())

    def retire_executor(self, executor_id: str) -> None:
        """The executor is stopping: its lease ends now and it runs no batch any more."""
        with write(self._engine) as conn:
            _executors.retire(conn, executor_id)

    def dead_executors(self) -> list[ExecutorRow]:
        """Executors whose lease expired or whose process (on this host) is gone."""
        with read(self._engine) as conn:
            return _executors.dead(conn, now=self._now())

    def forget_executor(self, executor_id: str) -> None:
        """Remove a dead executor whose workflows were recovered."""
        with write(self._engine) as conn:
            _executors.forget(conn, executor_id)

    def claim_batch(self, batch_id: str, executor_id: str) -> ExecutorRow | None:
        """Make ``executor_id`` the batch's runner unless another live executor is; return
        that one (and change nothing), or None when the claim holds."""
        with write(self._engine) as conn:
            return _executors.claim_batch(conn, batch_id, executor_id, now=self._now())

    def batch_runner(self, batch_id: str) -> ExecutorRow | None:
        """The live executor running the batch, if any."""
        with read(self._engine) as conn:
            return _executors.runner_of(conn, batch_id, now=self._now())
