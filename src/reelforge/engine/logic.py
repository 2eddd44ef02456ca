"""What each durable step of a job's workflow does. Each takes a job id and returns plain data.

DBOS runs a step at least once: after a crash, a step whose result was not recorded runs again.
Every step is therefore written to be repeated safely — it reads the job's row first and
continues from what the row says, and the one non-repeatable act (the paid create) is fenced by
the intent recorded before it (DESIGN section 5).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    AssetExpiredError,
    ErrorCategory,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from reelforge.core.models import JobState, RemoteStatus
from reelforge.engine import records
from reelforge.engine.context import EngineContext, current
from reelforge.engine.crash import CrashPoint, crash_point
from reelforge.engine.outcome import FINAL, local_state
from reelforge.engine.reconcile import Verdict, decide
from reelforge.store import JobRow

__all__ = ["Result", "admit", "download", "poll", "submit"]

Result = dict[str, Any]

_RETRY_SUBMIT = 5.0
"""Seconds before trying a create again when the provider could not be reached at all."""


def _state(job: JobRow, **extra: Any) -> Result:
    return {"state": job.state.value, **extra}


async def admit(job_id: str) -> Result:
    """Admit a planned job: reserve its estimate against the batch budget, then ``waiting``.

    A job that would cross the budget, or whose cost is unknown under a budget, is ``rejected``
    with the reason and never sent.
    """
    ctx = current()
    store = ctx.store
    job = store.get_job(job_id)
    if job.state is not JobState.PENDING:
        return _state(job)
    batch = store.get_batch(job.batch_id)
    if batch.budget_usd is not None:
        reason = _budget_refusal(ctx, job, batch.budget_usd)
        if reason is not None:
            store.transition(
                job_id,
                JobState.REJECTED,
                expect={JobState.PENDING},
                category=ErrorCategory.INVALID_REQUEST,
                error=reason,
            )
            return _state(store.get_job(job_id))
    store.transition(job_id, JobState.WAITING, expect={JobState.PENDING})
    return _state(store.get_job(job_id))


def _budget_refusal(ctx: EngineContext, job: JobRow, budget: Decimal) -> str | None:
    if job.estimated_cost is None:
        return (
            f"no price is known for {job.provider}/{job.model} at {job.size}, so it cannot "
            f"be kept within the batch budget of ${budget:.2f}"
        )
    if ctx.store.reserve(job.id, job.estimated_cost, budget):
        return None
    summary = ctx.store.batch_summary(job.batch_id)
    committed = summary.actual + summary.reserved
    return (
        f"budget: this job (${job.estimated_cost:.2f}) would take batch {job.batch_id} to "
        f"${committed + job.estimated_cost:.2f}, over its budget of ${budget:.2f} "
        f"(${committed:.2f} already spent or reserved)"
    )


async def submit(job_id: str) -> Result:
    """Create the job on the provider exactly once.

    Returns the job's state, and ``wait`` > 0 when the workflow should wait that long and call
    this step again (rate limited, provider unreachable, or a reconciliation grace period).
    """
    ctx = current()
    store = ctx.store
    job = store.get_job(job_id)
    if job.remote_id is not None or job.state in FINAL:
        return _state(job)
    if job.state is JobState.SUBMITTING:
        # An earlier attempt committed its intent and may have sent the create: never
        # resend blindly; find out what the provider has.
        return await _reconcile(ctx, job)
    if job.state is not JobState.WAITING:
        return _state(job)
    crash_point(CrashPoint.BEFORE_INTENT)
    token = store.record_intent(job_id)
    crash_point(CrashPoint.AFTER_INTENT)
    try:
        status = await ctx.provider(job.account).submit(job.spec)
    except ProviderError as exc:
        return await _after_failed_create(ctx, job_id, token, exc)
    crash_point(CrashPoint.BEFORE_REMOTE_ID_STORED)
    _adopt(ctx, job_id, token, status)
    return _state(store.get_job(job_id), hint=status.poll_after, created_at=status.created_at)


async def _after_failed_create(
    ctx: EngineContext, job_id: str, token: str, exc: ProviderError
) -> Result:
    """Ambiguous: reconcile. Provably nothing created: try later, or fail with the reason."""
    store = ctx.store
    if isinstance(exc, AmbiguousSubmissionError):
        store.record_note(job_id, f"create outcome unknown, reconciling: {exc}")
        return await _reconcile(ctx, store.get_job(job_id))
    retryable = isinstance(exc, TransientError) or (
        isinstance(exc, RateLimitedError) and exc.code != "insufficient_quota"
    )
    if retryable:
        # Only failures that prove nothing was created reach here (connection refused, 429).
        store.clear_intent(job_id, token)
        return _state(store.get_job(job_id), wait=exc.retry_after or _RETRY_SUBMIT)
    # Nothing was created, so nothing is owed: failing also frees the budget it held.
    store.clear_intent(job_id, token, to=JobState.FAILED, category=exc.category, error=str(exc))
    return _state(store.get_job(job_id))


def _adopt(ctx: EngineContext, job_id: str, token: str, status: RemoteStatus) -> None:
    state, _ = local_state(status.state)
    if state in (JobState.FAILED, JobState.CANCELED):
        # Record the id first (the job exists and is ours), then its ending.
        ctx.store.record_remote_id(
            job_id,
            token,
            status.remote_id,
            state=JobState.QUEUED,
            submitted_at=status.created_at,
        )
        records.apply_status(ctx, job_id, status)
        return
    ctx.store.record_remote_id(
        job_id,
        token,
        status.remote_id,
        state=state,
        progress=status.progress,
        submitted_at=status.created_at,
        expires_at=status.expires_at,
    )


async def _reconcile(ctx: EngineContext, job: JobRow) -> Result:
    store = ctx.store
    assert job.intent_token is not None
    assert job.intent_at is not None
    provider = ctx.provider(job.account)
    caps = provider.capabilities(job.model)
    since = job.intent_at - ctx.reconcile.skew
    try:
        remote = [s async for s in provider.list_recent(since=since)] if caps.can_list else []
    except (TransientError, RateLimitedError, ProtocolError) as exc:
        # No listing to go on (unreachable, or an answer that is not the protocol): look
        # again later; the job stays ``submitting`` and is never resubmitted blindly.
        return _state(job, wait=exc.retry_after or _RETRY_SUBMIT)
    taken = {
        s.remote_id
        for s in remote
        if (owner := store.find_by_remote_id(s.remote_id)) is not None and owner.id != job.id
    }
    decision = decide(
        remote,
        job.spec,
        intent_at=job.intent_at,
        now=ctx.clock.now(),
        taken=taken,
        can_list=caps.can_list,
        policy=ctx.reconcile,
    )
    if decision.verdict is Verdict.ADOPT:
        assert decision.adopted is not None
        store.record_note(job.id, f"reconciled: adopted {decision.adopted.remote_id}")
        _adopt(ctx, job.id, job.intent_token, decision.adopted)
        return _state(store.get_job(job.id))
    if decision.verdict is Verdict.WAIT:
        return _state(job, wait=decision.wait)
    if decision.verdict is Verdict.RESUBMIT:
        store.record_note(job.id, "reconciled: the provider has no such job; submitting again")
        store.clear_intent(job.id, job.intent_token)
        return _state(store.get_job(job.id), wait=0.0)
    reason = (
        f"{len(decision.candidates)} remote jobs match ({', '.join(decision.candidates)})"
        if decision.candidates
        else "the provider cannot list jobs, so whether the create succeeded is unknown"
    )
    store.transition(
        job.id,
        JobState.NEEDS_REVIEW,
        expect={JobState.SUBMITTING},
        category=ErrorCategory.TRANSIENT,
        error=f"ambiguous submission: {reason}",
        data={"candidates": list(decision.candidates)},
    )
    return _state(store.get_job(job.id))


async def poll(job_id: str) -> Result:
    """Fetch the job's status once and record what changed.

    Returns the state, progress, the time of the check, the server's poll hint and the
    creation time (for the next delay). Failures to reach the provider are not errors here:
    the state is unchanged and ``retry_after`` says when to look again.
    """
    ctx = current()
    store = ctx.store
    job = store.get_job(job_id)
    base = {"progress": job.progress, "at": ctx.clock.now(), "created_at": job.submitted_at}
    if job.remote_id is None or job.state not in (JobState.QUEUED, JobState.IN_PROGRESS):
        return _state(job, **base, hint=None)
    try:
        status = await ctx.provider(job.account).fetch(job.remote_id)
    except RateLimitedError as exc:
        return _state(job, **base, hint=exc.retry_after or ctx.poll.first)
    except NotFoundError as exc:
        store.transition(
            job_id,
            JobState.FAILED,
            category=ErrorCategory.NOT_FOUND,
            error=f"the provider no longer has this job: {exc}",
        )
        return _state(store.get_job(job_id), **base, hint=None)
    except (TransientError, ProtocolError):
        return _state(job, **base, hint=None)
    crash_point(CrashPoint.MID_POLL)
    records.apply_status(ctx, job_id, status)
    job = store.get_job(job_id)
    timed_out = (
        job.state in (JobState.QUEUED, JobState.IN_PROGRESS)
        and job.submitted_at is not None
        and ctx.clock.now() - job.submitted_at > ctx.poll.timeout
    )
    if timed_out:
        # This check was the last one: the job stays reconcilable with its remote id.
        records.time_out(ctx, job_id, status)
        job = store.get_job(job_id)
    return _state(
        job,
        progress=status.progress,
        at=ctx.clock.now(),
        hint=status.poll_after,
        created_at=status.created_at,
    )


async def download(job_id: str) -> Result:
    """Fetch every asset of a completed job, verify it, write ``job.json``, settle its cost."""
    ctx = current()
    job = ctx.store.get_job(job_id)
    if job.state not in (JobState.COMPLETED, JobState.DOWNLOADING):
        return _state(job)
    try:
        await records.download_assets(ctx, job)
    except AssetExpiredError as exc:
        ctx.store.transition(
            job_id, JobState.FAILED, category=ErrorCategory.EXPIRED, error=str(exc)
        )
    return _state(ctx.store.get_job(job_id))
