"""Controlling jobs from a process that is not running the engine: poke and cancel.

The engine's workflows live in the DBOS system tables beside our own, so another process (a
second terminal, a script) reaches them through :class:`dbos.DBOSClient` on the same database
URL, without launching DBOS. A job's workflow ids follow :mod:`reelforge.engine.workflow_ids`;
the newest one is the job's live workflow, if it is still running.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from dbos import DBOSClient
from sqlalchemy.exc import SQLAlchemyError

from reelforge.core.errors import ProviderError, UnsupportedOperationError
from reelforge.core.models import JobState, RemoteState, RemoteStatus
from reelforge.engine.outcome import FINAL
from reelforge.engine.reconcile import ReconcilePolicy, matches
from reelforge.engine.records import write_ending
from reelforge.engine.workflow import WAKE_TOPIC
from reelforge.engine.workflow_ids import run_number
from reelforge.providers.base import Provider
from reelforge.store import IllegalTransitionError, JobRow, Store

__all__ = [
    "CancelOutcome",
    "CancelResult",
    "WorkflowControl",
    "cancel_jobs",
]

_LIVE = ("PENDING", "ENQUEUED")


class WorkflowControl:
    """The job workflows of one database, seen from outside the engine.

    Opens no connection until first used; call :meth:`close` when done.
    """

    def __init__(self, db_url: str) -> None:
        self._db_url = db_url
        self._client: DBOSClient | None = None

    def _get(self) -> DBOSClient:
        if self._client is None:
            self._client = DBOSClient(system_database_url=self._db_url)
        return self._client

    def close(self) -> None:
        """Release the client's connections."""
        if self._client is not None:
            self._client.destroy()
            self._client = None

    def latest(self, job_id: str) -> tuple[str, str] | None:
        """The job's newest workflow id and its DBOS status, or None if it never had one."""
        try:
            found = self._get().list_workflows(
                workflow_id_prefix=job_id, load_input=False, load_output=False
            )
        except SQLAlchemyError:
            # No engine ever ran on this database: DBOS has not created its tables yet.
            return None
        best: tuple[int, str, str] | None = None
        for status in found:
            n = run_number(job_id, status.workflow_id)
            if n is not None and (best is None or n > best[0]):
                best = (n, status.workflow_id, status.status)
        return None if best is None else (best[1], best[2])

    def live(self, job_id: str) -> str | None:
        """The id of the job's running (or queued) workflow, if it has one."""
        latest = self.latest(job_id)
        return latest[0] if latest is not None and latest[1] in _LIVE else None

    def poke(self, job_id: str) -> str | None:
        """Wake the job's waiting workflow; return its id, or None if none is live."""
        workflow_id = self.live(job_id)
        if workflow_id is not None:
            self._get().send(workflow_id, "poke", topic=WAKE_TOPIC)
        return workflow_id

    def cancel(self, job_id: str) -> str | None:
        """Cancel the job's live workflow; return its id, or None if none is live."""
        workflow_id = self.live(job_id)
        if workflow_id is not None:
            self._get().cancel_workflow(workflow_id)
        return workflow_id


class CancelOutcome(StrEnum):
    """What canceling one job came to."""

    CANCELED = "canceled"
    """Canceled locally (and its workflow stopped)."""
    ALREADY_ENDED = "already_ended"
    """The job had already ended; nothing to do."""
    REFUSED = "refused"
    """The job cannot be canceled in its state (the reason says why)."""
    COMPLETED = "completed"
    """The provider had already completed it (paid): it is kept and downloaded, not deleted."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelResult:
    """One job's cancellation: locally, its workflow, and on the provider."""

    job: JobRow
    outcome: CancelOutcome
    reason: str | None = None
    workflow_id: str | None = None
    remote_deleted: bool | None = None
    """True if deleted on the provider, False if that failed, None if not attempted."""
    remote_note: str | None = None


_UNCANCELABLE = {
    JobState.COMPLETED: "it is already generated on the provider (and paid); it is being collected",
    JobState.DOWNLOADING: "it is already generated on the provider (and paid); it is downloading",
    JobState.NEEDS_REVIEW: "it needs review: settle it with `reelforge reconcile --abandon JOB`",
}


async def cancel_jobs(
    store: Store,
    control: WorkflowControl,
    jobs: Iterable[JobRow],
    *,
    provider: Provider | None = None,
    account: str | None = None,
) -> list[CancelResult]:
    """Cancel each unfinished job: stop its workflow, mark it ``canceled``, release its
    reservation, and delete it on the provider when ``provider`` serves the job's ``account``.

    A job created on the provider is checked there first: one the provider has completed is
    paid for, so it is recorded ``completed`` and downloaded, never deleted (outcome
    ``completed``); one that cannot be checked (no credentials, provider unreachable) is not
    canceled. A job in ``submitting`` (its create may be out) is stopped first, then looked for
    in the provider's listing: found, it is canceled as a created job; otherwise it is
    canceled here with a note saying the provider may have made it. A job in ``completed`` or
    ``downloading`` is not canceled (see the reason). An endpoint that cannot delete (a
    gateway answering 405) leaves the job canceled here, with a note.
    """
    results = []
    for job in jobs:
        result = await _cancel_one(store, control, job, provider=provider, account=account)
        if result.outcome is CancelOutcome.CANCELED:
            write_ending(store, result.job.id)
        results.append(result)
    return results


async def _cancel_one(  # noqa: PLR0911  # one outcome per state the job is found in
    store: Store,
    control: WorkflowControl,
    job: JobRow,
    *,
    provider: Provider | None,
    account: str | None,
) -> CancelResult:
    job = store.get_job(job.id)  # as it is now: the rows given may be stale
    settled = _settled(job)
    if settled is not None:
        return settled
    if job.state is JobState.SUBMITTING:
        found = await _cancel_submitting(store, control, job, provider=provider, account=account)
        if isinstance(found, CancelResult):
            return found
        # Adopted from the listing (or moved on meanwhile): canceled as it is now.
        return await _cancel_one(store, control, found, provider=provider, account=account)
    if job.remote_id is not None:
        checked = await _check_remote(store, job, provider=provider, account=account)
        if checked is not None:
            return checked
    workflow_id = await asyncio.to_thread(control.cancel, job.id)
    try:
        # Only from the state that was checked: a job that got a remote id (or finished)
        # meanwhile is not canceled unchecked.
        changed = store.transition(
            job.id, JobState.CANCELED, expect={job.state}, error="canceled by the user"
        )
    except IllegalTransitionError:
        changed = False
    if not changed and store.get_job(job.id).state not in FINAL:
        now = store.get_job(job.id)
        reason = _UNCANCELABLE.get(
            now.state,
            f"it moved to {now.state.value} meanwhile: run cancel again "
            "(`reelforge run` continues it otherwise)",
        )
        return CancelResult(
            job=now, outcome=CancelOutcome.REFUSED, reason=reason, workflow_id=workflow_id
        )
    job = store.get_job(job.id)
    if not changed:
        return CancelResult(job=job, outcome=CancelOutcome.ALREADY_ENDED, workflow_id=workflow_id)
    deleted, note = await _delete_remote(store, job, provider=provider, account=account)
    return CancelResult(
        job=job,
        outcome=CancelOutcome.CANCELED,
        workflow_id=workflow_id,
        remote_deleted=deleted,
        remote_note=note,
    )


def _settled(job: JobRow) -> CancelResult | None:
    """The result for a job that has ended or cannot be canceled in its state, else None."""
    if job.state in _UNCANCELABLE:
        return CancelResult(job=job, outcome=CancelOutcome.REFUSED, reason=_UNCANCELABLE[job.state])
    if job.state in FINAL:
        return CancelResult(job=job, outcome=CancelOutcome.ALREADY_ENDED)
    return None


async def _cancel_submitting(
    store: Store,
    control: WorkflowControl,
    job: JobRow,
    *,
    provider: Provider | None,
    account: str | None,
) -> CancelResult | JobRow:
    """Cancel a job whose create may be out, never losing the video it may have made.

    The provider's listing is read first. The job found there once is adopted (returned, to
    be canceled as a created job: deleted, or kept if already completed). Not found while its
    create could still land (before its ``resend_after``): refused, saying until when. Not
    found after that: nothing was made, so its workflow is stopped and it is canceled. An
    endpoint that cannot list can never tell: after the window it is canceled here with a
    note that the provider may have made it.
    """
    found = await _find_created(store, job, provider=provider, account=account)
    if isinstance(found, JobRow) and found.state is JobState.SUBMITTING:
        return CancelResult(
            job=found, outcome=CancelOutcome.REFUSED, reason="it moved on: run cancel again"
        )
    if not isinstance(found, str):
        return found
    resend_after = job.resend_after if job.resend_after is not None else job.intent_at
    if resend_after is not None and store.now() < resend_after:
        return CancelResult(
            job=job,
            outcome=CancelOutcome.REFUSED,
            reason=f"its create request may still reach the provider for "
            f"{resend_after - store.now():.0f} s ({found}): cancel it after that, or let its "
            "run settle it",
        )
    workflow_id = await asyncio.to_thread(control.cancel, job.id)
    now = store.get_job(job.id)
    if now.state is not JobState.SUBMITTING or now.intent_token != job.intent_token:
        return CancelResult(
            job=now,
            outcome=CancelOutcome.REFUSED,
            reason=f"it moved on meanwhile (now {now.state.value}): run cancel again",
            workflow_id=workflow_id,
        )
    reason = f"canceled by the user after its create could no longer land ({found})"
    with contextlib.suppress(IllegalTransitionError):
        store.transition(job.id, JobState.NEEDS_REVIEW, expect={JobState.SUBMITTING}, error=reason)
        store.transition(job.id, JobState.CANCELED, expect={JobState.NEEDS_REVIEW}, error=reason)
    now = store.get_job(job.id)
    if now.state is not JobState.CANCELED:
        return CancelResult(
            job=now,
            outcome=CancelOutcome.REFUSED,
            reason=f"it moved to {now.state.value} meanwhile: run cancel again",
            workflow_id=workflow_id,
        )
    return CancelResult(
        job=now, outcome=CancelOutcome.CANCELED, workflow_id=workflow_id, remote_note=found
    )


async def _find_created(
    store: Store, job: JobRow, *, provider: Provider | None, account: str | None
) -> JobRow | CancelResult | str:
    """The job adopted from the provider's listing; or the result when the listing cannot be
    read now (refused: try again); or what the listing says (nothing matches, or the endpoint
    cannot list)."""
    if provider is None or account != job.account:
        return CancelResult(
            job=job,
            outcome=CancelOutcome.REFUSED,
            reason="its create request may be out, and there are no credentials to look for it "
            "on the provider: run cancel with the base URL and API key the batch ran with",
        )
    if job.intent_token is None or job.intent_at is None:
        return "no submission intent is recorded"
    found = await _matching(store, job, provider)
    if not isinstance(found, list):
        return found
    if len(found) != 1:
        return "not in the provider's listing" if not found else _ambiguous(job, len(found))
    status = found[0]
    recorded = store.record_remote_id(
        job.id,
        job.intent_token,
        status.remote_id,
        state=JobState.QUEUED,
        submitted_at=status.created_at,
        data={"reconciled": "found in the listing when canceled"},
    )
    if not recorded:
        return store.get_job(job.id)  # it moved on meanwhile: handled as it is now
    store.record_note(job.id, f"found in the provider's listing when canceled: {status.remote_id}")
    return store.get_job(job.id)


def _ambiguous(job: JobRow, count: int) -> CancelResult:
    return CancelResult(
        job=job,
        outcome=CancelOutcome.REFUSED,
        reason=f"{count} jobs in the provider's listing match it: settle it with "
        "`reelforge reconcile` first",
    )


async def _matching(
    store: Store, job: JobRow, provider: Provider
) -> list[RemoteStatus] | CancelResult | str:
    """The provider's jobs that match ``job``'s create and no other job owns; the refusal
    when the listing cannot be read now; or a note when the endpoint cannot list at all."""
    assert job.intent_at is not None
    since = job.intent_at - ReconcilePolicy().skew
    try:
        return [
            status
            async for status in provider.list_recent(since=since)
            if matches(status, job.spec, since=since, token=job.intent_token)
            and store.find_by_remote_id(status.remote_id) is None
        ]
    except UnsupportedOperationError:
        return "the endpoint cannot list its jobs: the provider may have made it"
    except ProviderError as exc:
        return CancelResult(
            job=job,
            outcome=CancelOutcome.REFUSED,
            reason=f"its create request may be out and the provider's listing could not be "
            f"read ({exc}): try again",
        )


async def _check_remote(
    store: Store, job: JobRow, *, provider: Provider | None, account: str | None
) -> CancelResult | None:
    """Ask the provider where a created job is before canceling it: a job it has completed
    is paid for, so it is recorded ``completed`` (and downloaded) instead of deleted. None
    when the job may be canceled; else the result (not canceled)."""
    assert job.remote_id is not None
    if provider is None or account != job.account:
        why = "no provider credentials" if provider is None else "it was submitted with other"
        return CancelResult(
            job=job,
            outcome=CancelOutcome.REFUSED,
            reason=f"{why} credentials to check whether the provider has already completed it "
            "(and billed it): run cancel with the base URL and API key the batch ran with",
        )
    try:
        status = await provider.fetch(job.remote_id)
    except ProviderError as exc:
        return CancelResult(
            job=job,
            outcome=CancelOutcome.REFUSED,
            reason=f"could not check it on the provider first ({exc}); try again",
        )
    if status.state is not RemoteState.COMPLETED:
        return None
    with contextlib.suppress(IllegalTransitionError):  # it moved on meanwhile: reported as is
        store.transition(
            job.id,
            JobState.COMPLETED,
            expect={JobState.QUEUED, JobState.IN_PROGRESS},
            progress=100,
            completed_at=status.completed_at,
            expires_at=status.expires_at,
        )
    return CancelResult(
        job=store.get_job(job.id),
        outcome=CancelOutcome.COMPLETED,
        reason="the provider had already completed it (paid): kept and downloaded by the "
        "batch's run (or the next `reelforge run` / `reelforge retry`), not deleted",
    )


async def _delete_remote(
    store: Store, job: JobRow, *, provider: Provider | None, account: str | None
) -> tuple[bool | None, str | None]:
    if job.remote_id is None:
        return None, None
    if provider is None:
        return None, "no provider credentials: not deleted on the provider"
    if account != job.account:
        return None, "submitted with other credentials: not deleted on the provider"
    try:
        await provider.delete(job.remote_id)
    except UnsupportedOperationError as exc:
        store.set_capability(job.account, "delete", supported=False, detail=str(exc)[:500])
        store.record_note(job.id, f"canceled here only: the endpoint cannot delete jobs ({exc})")
        return None, (
            f"the endpoint cannot delete jobs ({exc}): canceled here only; the provider may "
            "still finish it"
        )
    except ProviderError as exc:
        return False, f"delete on the provider failed: {exc}"
    return True, None
