"""What each durable step of a job's workflow does. Each takes a job id and returns a small,
typed result (recorded by DBOS; the workflow decides from it alone).

DBOS runs a step at least once: after a crash, a step whose result was not recorded runs again.
Every step is therefore written to be repeated safely — it reads the job's row first and
continues from what the row says, and the one non-repeatable act (the paid create) is fenced by
the intent recorded before it (DESIGN section 5).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from decimal import Decimal

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    AssetExpiredError,
    DownloadError,
    ErrorCategory,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    TransientError,
    UnsupportedOperationError,
)
from reelforge.core.models import JobState, RemoteState, RemoteStatus
from reelforge.engine import records
from reelforge.engine.context import EngineContext, current
from reelforge.engine.crash import CrashPoint, crash_point
from reelforge.engine.outcome import FINAL, local_state
from reelforge.engine.reconcile import Verdict, decide
from reelforge.providers._errors import VideoNotReadyError
from reelforge.store import JobRow
from reelforge.store import webhooks as deliveries

__all__ = [
    "Admitted",
    "Downloaded",
    "Polled",
    "StepResult",
    "Submitted",
    "admit",
    "download",
    "poll",
    "submit",
]

_RETRY_SUBMIT = 5.0
"""Seconds before trying a create again when the provider could not be reached at all."""
_RELIST_EVERY = 5.0
"""Seconds between listings while an ambiguous create may still land."""
MAX_STRIKES = 5
"""Unusable answers in a row (not the protocol) after which a job stops and says why."""
_NOT_READY_MAX_WAIT = 30.0
"""The longest wait before downloading a video that was not ready again, in seconds."""


LIST = "list"
"""The endpoint capability of listing jobs (see :meth:`reelforge.store.Store.supports`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StepResult:
    """What every step returns: the job's state after it, and when to run it again."""

    state: JobState
    wait: float = 0.0
    """Seconds the workflow waits before calling the same step again (0: go on)."""
    strikes: int = 0
    """Unusable answers in a row so far (carried into the next call of the step)."""
    attempt: int = 0
    """The job's submission attempt, whenever the step leaves the job ``completed`` or
    ``downloading`` (it names the download workflow); 0 otherwise."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Admitted(StepResult):
    """The result of :func:`admit`."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Submitted(StepResult):
    """The result of :func:`submit`."""

    hint: float | None = None
    """The server's poll hint, in seconds, if it sent one."""
    created_at: float | None = None
    expected: float | None = None
    """How long jobs like this one take from creation to completion (what was measured in
    this process, else the model's typical time): aims the first check without a hint."""
    hold_until: float | None = None
    """The job stopped for review while a create it sent may still be running on the
    provider: its workflow keeps the account's in-flight slot until then."""
    since: float | None = None
    """When the creates that could not reach the provider began (carried into the next
    call, which gives up after the job's timeout)."""
    pushed: bool = False
    """The job's provider pushes its completion (webhooks): polls are only a safety net."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Polled(StepResult):
    """The result of :func:`poll`."""

    progress: int
    at: float
    """When the check was made."""
    hint: float | None = None
    created_at: float | None = None
    expected: float | None = None
    pushed: bool = False
    """The job's provider pushes its completion (webhooks): polls are only a safety net."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Downloaded(StepResult):
    """The result of :func:`download`."""


def _expected(ctx: EngineContext, job: JobRow, *, first: bool = False) -> float | None:
    """How long jobs like ``job`` take from creation to completion, as measured in this
    process; for the ``first`` check only, the model's typical time when nothing is measured
    (later checks go by the progress they see, not by a table)."""
    learned = ctx.durations.expected(job.model, job.seconds, job.size)
    if learned is not None or not first or job.account in ctx.simulated:
        return learned
    return ctx.provider(job.account).capabilities(job.model).typical_duration(job.seconds)


async def admit(job_id: str) -> Admitted:
    """Admit a planned job: reserve its estimate against the batch budget, then ``waiting``.

    A job that would cross the budget, or whose cost is unknown under a budget, is ``rejected``
    with the reason and never sent.
    """
    ctx = current()
    store = ctx.store
    job = store.get_job(job_id)
    if job.state is not JobState.PENDING:
        return Admitted(state=job.state)
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
            return Admitted(state=store.get_job(job_id).state)
    if store.transition(job_id, JobState.WAITING, expect={JobState.PENDING}):
        return Admitted(state=JobState.WAITING)
    return Admitted(state=store.get_job(job_id).state)


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


async def submit(job_id: str, strikes: int = 0, since: float | None = None) -> Submitted:
    """Create the job on the provider exactly once.

    Returns the job's state, and ``wait`` > 0 when the workflow should wait that long and call
    this step again (rate limited, provider unreachable, or a reconciliation grace period);
    ``hold_until`` when the job stopped for review while its create may still be running on
    the provider.
    """
    ctx = current()
    store = ctx.store
    job = store.get_job(job_id)
    if job.remote_id is not None or job.state in FINAL:
        return Submitted(state=job.state)
    if job.state is JobState.SUBMITTING:
        # An earlier attempt committed its intent and may have sent the create: never
        # resend blindly; find out what the provider has.
        return await _reconcile(ctx, job, strikes)
    if job.state is not JobState.WAITING:
        return Submitted(state=job.state)
    crash_point(CrashPoint.BEFORE_INTENT)
    policy = ctx.reconcile
    token = store.record_intent(job_id, window=policy.window)
    try:
        records.write_job_file(store, job_id, state=JobState.SUBMITTING)
    except OSError as exc:
        # No evidence on disk, no create: nothing was sent.
        store.clear_intent(
            job_id,
            token,
            to=JobState.FAILED,
            category=ErrorCategory.INVALID_REQUEST,
            error=f"nothing sent: {_os_reason(exc)}",
        )
        return Submitted(state=store.get_job(job_id).state)
    crash_point(CrashPoint.AFTER_INTENT)
    try:
        status = await _create(ctx, job, token)
    except ProviderError as exc:
        return await _after_failed_create(ctx, job_id, token, exc, since)
    crash_point(CrashPoint.BEFORE_REMOTE_ID_STORED)
    job = _adopt(ctx, job_id, token, status)
    crash_point(CrashPoint.AFTER_REMOTE_ID_STORED)
    return Submitted(
        state=job.state,
        hint=status.poll_after,
        created_at=status.created_at,
        expected=_expected(ctx, job, first=True),
    )


async def _create(ctx: EngineContext, job: JobRow, token: str) -> RemoteStatus:
    """The paid request, abandoned (as an ambiguous submission) after ``create_timeout``.
    ``token`` (the intent's) goes with it where the provider can carry it."""
    timeout = ctx.reconcile.create_timeout
    try:
        async with asyncio.timeout(timeout):
            return await ctx.provider(job.account).submit(
                job.spec, token=token, cancel_after=ctx.poll.timeout
            )
    except TimeoutError:
        raise AmbiguousSubmissionError(
            f"create a video: no answer within {timeout:g} s; the request was abandoned, and "
            "the video may or may not have been created"
        ) from None


async def _after_failed_create(
    ctx: EngineContext, job_id: str, token: str, exc: ProviderError, since: float | None
) -> Submitted:
    """Ambiguous: reconcile. Provably nothing created: try later, or fail with the reason.

    When the server accepted the create (a success whose body is unusable), the job exists
    and only the listing's lag stands between us and seeing it. Any other ambiguity waits for
    the intent's ``resend_after``: without an answer (a timeout, a dropped connection) the
    request may still arrive, and a 5xx proves nothing either — a gateway answers 502/504
    while its upstream goes on to make the job.

    A provider that cannot be reached (or keeps answering 429) is tried again every few
    seconds, with a note the first time, for at most the job's timeout counted from
    ``since`` (the first such failure); then the job fails, having cost nothing.
    """
    store = ctx.store
    if isinstance(exc, AmbiguousSubmissionError):
        if exc.status_code is not None and 200 <= exc.status_code < 300:
            store.set_resend_after(job_id, token, ctx.clock.now() + ctx.reconcile.listing_lag)
        store.record_note(job_id, f"create outcome unknown, reconciling: {exc}")
        return await _reconcile(ctx, store.get_job(job_id))
    retryable = isinstance(exc, TransientError) or (
        isinstance(exc, RateLimitedError) and exc.code != "insufficient_quota"
    )
    now = ctx.clock.now()
    if retryable and (since is None or now - since <= ctx.poll.timeout):
        # Only failures that prove nothing was created reach here (connection refused, 429).
        store.clear_intent(job_id, token)
        if since is None:
            store.record_note(job_id, f"could not send the create, trying again: {exc}")
        return Submitted(
            state=store.get_job(job_id).state,
            wait=exc.retry_after or _RETRY_SUBMIT,
            since=now if since is None else since,
        )
    error = str(exc)
    if retryable:
        error = f"could not be sent for {ctx.poll.timeout:.0f} s (nothing was created): {exc}"
    # Nothing was created, so nothing is owed: failing also frees the budget it held.
    store.clear_intent(
        job_id,
        token,
        to=JobState.FAILED,
        category=exc.category,
        error=error,
        data={
            key: value
            for key, value in (
                ("code", exc.code),
                ("param", exc.param),
                ("status_code", exc.status_code),
                ("request_id", exc.request_id),
            )
            if value is not None
        },
    )
    return Submitted(state=store.get_job(job_id).state)


def _adopt(ctx: EngineContext, job_id: str, token: str, status: RemoteStatus) -> JobRow:
    """Record the provider's id (and state) for the job; return the job as it is now."""
    _record_remote(ctx, job_id, token, status)
    record = ctx.store.job_record(job_id)
    if record.job.remote_id is not None:
        # The output folder records the remote id too: paid-for evidence beside the files.
        with contextlib.suppress(OSError, ValueError):
            records.write_record(record)
    return record.job


def _record_remote(ctx: EngineContext, job_id: str, token: str, status: RemoteStatus) -> None:
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


async def _reconcile(ctx: EngineContext, job: JobRow, strikes: int = 0) -> Submitted:
    store = ctx.store
    assert job.intent_token is not None
    assert job.intent_at is not None
    unlistable = _cannot_list(ctx, job)
    if unlistable is not None:
        return _unlistable(ctx, job, unlistable)
    remote = await _listing(ctx, job, strikes)
    if not isinstance(remote, list):
        return remote  # no listing to go on: wait, or stop for review
    taken = {
        s.remote_id
        for s in remote
        if (owner := store.find_by_remote_id(s.remote_id)) is not None and owner.id != job.id
    }
    now = ctx.clock.now()
    decision = decide(
        remote,
        job.spec,
        intent_at=job.intent_at,
        now=now,
        taken=taken,
        can_list=True,
        policy=ctx.reconcile,
        resend_after=job.resend_after,
        token=job.intent_token,
    )
    if decision.verdict is Verdict.ADOPT:
        assert decision.adopted is not None
        store.record_note(job.id, f"reconciled: adopted {decision.adopted.remote_id}")
        adopted = _adopt(ctx, job.id, job.intent_token, decision.adopted)
        # Created a while ago: aimed by what was measured here, not a whole typical render.
        return Submitted(state=adopted.state, expected=_expected(ctx, job))
    if decision.verdict is Verdict.WAIT:
        # Look again soon: a create still in the air shows up in the listing when it lands.
        return Submitted(state=job.state, wait=min(decision.wait, _RELIST_EVERY))
    if decision.verdict is Verdict.RESUBMIT:
        store.record_note(
            job.id,
            "reconciled: no job of the provider matches, and the earlier create can no longer "
            "arrive; submitting again",
            data={
                "decision": "resubmit",
                "intent_at": job.intent_at,
                "resend_after": job.resend_after,
                "decided_at": now,
                "listed": len(remote),
            },
        )
        store.clear_intent(job.id, job.intent_token)
        return Submitted(state=store.get_job(job.id).state)
    reason = (
        f"{len(decision.candidates)} remote jobs match ({', '.join(decision.candidates)})"
        if decision.candidates
        else "no remote job matches and a resubmission is not allowed"
    )
    store.transition(
        job.id,
        JobState.NEEDS_REVIEW,
        expect={JobState.SUBMITTING},
        category=ErrorCategory.TRANSIENT,
        error=f"ambiguous submission: {reason}",
        data={"candidates": list(decision.candidates)},
    )
    return Submitted(state=store.get_job(job.id).state)


def _cannot_list(ctx: EngineContext, job: JobRow) -> str | None:
    """Why the job's endpoint cannot list jobs (known from its model, or remembered from an
    earlier refusal), or None if it may."""
    if not ctx.provider(job.account).capabilities(job.model).can_list:
        return "this provider has no job listing"
    refused = ctx.store.capabilities(job.account).get(LIST)
    if refused is not None and not refused.supported:
        return refused.detail or "it refused to list jobs before"
    return None


def _unlistable(ctx: EngineContext, job: JobRow, why: str) -> Submitted:
    """An ambiguous create on an endpoint that cannot list: whether it made a video cannot be
    found out, and resending could pay twice, so a person decides. The job keeps its
    in-flight slot while the create it may have started could still be running (until its
    timeout has passed since the intent), then gives it back, still in review."""
    assert job.intent_at is not None
    endpoint = ctx.provider(job.account).base_url
    ctx.store.transition(
        job.id,
        JobState.NEEDS_REVIEW,
        expect={JobState.SUBMITTING},
        category=ErrorCategory.TRANSIENT,
        error=(
            f"ambiguous submission: the endpoint at {endpoint} cannot list its jobs ({why}), "
            "so whether the create made a video is unknown and resending it could pay twice: "
            "look for it on the provider, then settle it with `reelforge reconcile` "
            "(--adopt JOB REMOTE_ID, --resubmit JOB or --abandon JOB)"
        ),
    )
    return Submitted(
        state=ctx.store.get_job(job.id).state, hold_until=job.intent_at + ctx.poll.timeout
    )


async def _listing(ctx: EngineContext, job: JobRow, strikes: int) -> list[RemoteStatus] | Submitted:
    """The provider's jobs since the intent (less the clock skew), or the step's result when
    there is none to go on."""
    assert job.intent_at is not None
    since = job.intent_at - ctx.reconcile.skew
    try:
        return [s async for s in ctx.provider(job.account).list_recent(since=since)]
    except UnsupportedOperationError as exc:
        # Remembered for the account: later ambiguous creates go to review without asking.
        ctx.store.set_capability(job.account, LIST, supported=False, detail=str(exc))
        return _unlistable(ctx, job, str(exc))
    except ProtocolError as exc:
        # An answer that is not the protocol: a few in a row, then a person decides.
        strikes += 1
        if strikes >= MAX_STRIKES:
            return Submitted(
                state=_review(
                    ctx,
                    job,
                    ErrorCategory.PROTOCOL,
                    f"ambiguous submission: the provider's job listing is unusable ({strikes} "
                    f"answers in a row), so whether the create made a video is unknown: {exc}",
                )
            )
        if strikes == 1:
            ctx.store.record_note(job.id, f"cannot read the provider's job listing: {exc}")
        return Submitted(state=job.state, wait=exc.retry_after or _RETRY_SUBMIT, strikes=strikes)
    except (TransientError, RateLimitedError) as exc:
        # No listing to go on (unreachable): look again later, never resubmit blindly; but
        # not past the job's timeout.
        if ctx.clock.now() - job.intent_at > ctx.poll.timeout:
            return Submitted(
                state=_review(
                    ctx,
                    job,
                    ErrorCategory.TIMEOUT,
                    "ambiguous submission: the provider could not be asked for "
                    f"{ctx.poll.timeout:.0f} s whether the create made a video (last error: "
                    f"{exc})",
                )
            )
        return Submitted(state=job.state, wait=exc.retry_after or _RETRY_SUBMIT)


def _review(ctx: EngineContext, job: JobRow, category: ErrorCategory, reason: str) -> JobState:
    """Stop the job for a person: ``needs_review`` with the reason (it stays collectable)."""
    ctx.store.transition(
        job.id,
        JobState.NEEDS_REVIEW,
        expect={JobState.SUBMITTING, JobState.QUEUED, JobState.IN_PROGRESS},
        category=category,
        error=reason,
    )
    return ctx.store.get_job(job.id).state


async def poll(job_id: str, strikes: int = 0) -> Polled:
    """Learn the job's status once and record what changed.

    A status a verified provider webhook carried for this job's remote id (recorded by
    ``reelforge serve``'s receivers, not yet applied) is applied instead of asking the
    provider: the newest word wins (an ending over any running state), one that would move the
    job backwards is passed over, and each is applied once. Otherwise the provider is asked.

    Returns the state, progress, the time of the check, the server's poll hint, the creation
    time (for the next delay) and ``strikes``: how many answers in a row were unusable. A
    provider that cannot be reached is not an error here (the state is unchanged and the hint
    says when to look again), but the job's timeout applies whatever the provider answers, and
    :data:`MAX_STRIKES` unusable answers in a row stop the job for review with the answer
    quoted.
    """
    ctx = current()
    store = ctx.store
    job = store.get_job(job_id)

    def polled(
        job: JobRow,
        *,
        progress: int | None = None,
        hint: float | None = None,
        created_at: float | None = None,
        strikes: int = 0,
    ) -> Polled:
        return Polled(
            state=job.state,
            progress=job.progress if progress is None else progress,
            at=ctx.clock.now(),
            hint=hint,
            created_at=job.submitted_at if created_at is None else created_at,
            expected=_expected(ctx, job),
            attempt=job.attempt,
            strikes=strikes,
        )

    if job.remote_id is None or job.state not in (JobState.QUEUED, JobState.IN_PROGRESS):
        return polled(job)
    pushed = _take_pushed(ctx, job)
    if pushed is not None:
        after = store.get_job(job_id)
        if _timed_out(ctx, after):
            records.time_out(ctx, job_id, pushed.state.value)
            after = store.get_job(job_id)
        return polled(after, created_at=pushed.created_at)
    hint: float | None = None
    problem: str | None = None
    try:
        status = await ctx.provider(job.account).fetch(job.remote_id)
    except RateLimitedError as exc:
        hint, problem = exc.retry_after or ctx.poll.first, str(exc)
    except NotFoundError as exc:
        store.transition(
            job_id,
            JobState.FAILED,
            category=ErrorCategory.NOT_FOUND,
            error=f"the provider no longer has this job: {exc}",
        )
        return polled(store.get_job(job_id), progress=job.progress)
    except ProtocolError as exc:
        strikes += 1
        if strikes >= MAX_STRIKES:
            _review(
                ctx,
                job,
                ErrorCategory.PROTOCOL,
                f"the provider's answers about {job.remote_id} are unusable ({strikes} in a "
                f"row): {exc}; `reelforge reconcile` can look again later",
            )
            return polled(store.get_job(job_id), progress=job.progress, strikes=strikes)
        if strikes == 1:
            store.record_note(job_id, f"unusable answer from the provider: {exc}")
        problem = str(exc)
    except TransientError as exc:
        problem = str(exc)
    else:
        crash_point(CrashPoint.MID_POLL)
        records.observe(
            ctx, job.account, records.POLL_HINT, supported=status.poll_after is not None
        )
        job = records.apply_status(ctx, job_id, status)
        if _timed_out(ctx, job):
            # This check was the last one: the job stays reconcilable with its remote id.
            records.time_out(ctx, job_id, status.state.value)
            job = store.get_job(job_id)
        return polled(
            job, progress=status.progress, hint=status.poll_after, created_at=status.created_at
        )
    if _timed_out(ctx, job):
        records.time_out(ctx, job_id, job.state.value, problem=problem)
        job = store.get_job(job_id)
    return polled(job, hint=hint, strikes=strikes if problem else 0)


def _take_pushed(ctx: EngineContext, job: JobRow) -> RemoteStatus | None:
    """Apply the statuses verified webhooks carried for ``job``'s remote id, if any: the one
    furthest along (an ending first, else the latest state and progress); those that would
    move the job backwards change nothing. Each is marked applied after it was, so a step run
    again after a crash applies it again (harmlessly: the job's row guards every move)."""
    assert job.remote_id is not None
    scheme = ctx.provider(job.account).name
    found = deliveries.pushed_statuses(
        ctx.store, job_id=job.id, remote_id=job.remote_id, scheme=scheme
    )
    if not found:
        return None
    ended = [p.status for p in found if p.status.state.is_terminal]
    if ended:
        chosen = ended[0]  # a job ends once: the first word of its ending
    else:
        chosen = max(
            (p.status for p in found),
            key=lambda s: (s.state is RemoteState.IN_PROGRESS, s.progress),
        )
    records.apply_pushed(ctx, job.id, chosen)
    deliveries.mark_applied(ctx.store, found)
    return chosen


def _timed_out(ctx: EngineContext, job: JobRow) -> bool:
    # Counted on our own clock from the intent: the server's created_at may be anything.
    started = job.intent_at if job.intent_at is not None else job.submitted_at
    return (
        job.state in (JobState.QUEUED, JobState.IN_PROGRESS)
        and started is not None
        and ctx.clock.now() - started > ctx.poll.timeout
    )


async def download(job_id: str, strikes: int = 0) -> Downloaded:
    """Fetch every asset of a completed job, verify it, write ``job.json``, settle its cost.

    A video the provider does not serve yet although it was reported completed (a webhook
    completes an OpenAI-protocol job without a status check: its content endpoint is the
    truth) puts the job back to ``completed`` and returns ``wait`` > 0: the download workflow
    tries again then, with ``strikes`` counting the tries, until the job's timeout has passed
    since its intent; then the download fails as below.

    A download that cannot complete (after the adapter's bounded retries: a server that keeps
    cutting the body short, an asset that is not what its variant should be, a full disk)
    ends the job ``failed`` with category ``download`` and the reason in one line; its cost
    is settled (the video was made), and ``reelforge retry`` resumes the download.
    """
    ctx = current()
    job = ctx.store.get_job(job_id)
    if job.state not in (JobState.COMPLETED, JobState.DOWNLOADING):
        return Downloaded(state=job.state)
    try:
        await records.download_assets(ctx, job)
    except VideoNotReadyError as exc:
        started = job.intent_at if job.intent_at is not None else job.submitted_at
        if started is None or ctx.clock.now() - started <= ctx.poll.timeout:
            ctx.store.transition(job_id, JobState.COMPLETED, expect={JobState.DOWNLOADING})
            if strikes == 0:
                ctx.store.record_note(
                    job_id, f"the video is not ready to download yet; trying again: {exc}"
                )
            wait = max(ctx.poll.first, min(2.0**strikes, _NOT_READY_MAX_WAIT))
            return Downloaded(state=ctx.store.get_job(job_id).state, wait=wait, strikes=strikes + 1)
        _download_failed(ctx, job, str(exc))
    except AssetExpiredError as exc:
        if job.estimated_cost is not None:
            ctx.store.settle(job_id, job.estimated_cost)  # made and billed; its files are gone
        ctx.store.transition(
            job_id, JobState.FAILED, category=ErrorCategory.EXPIRED, error=str(exc)
        )
    except (DownloadError, ProviderError, OSError) as exc:
        reason = str(exc) if isinstance(exc, DownloadError | ProviderError) else _os_reason(exc)
        _download_failed(ctx, job, reason)
    return Downloaded(state=ctx.store.get_job(job_id).state)


def _download_failed(ctx: EngineContext, job: JobRow, reason: str) -> None:
    if job.estimated_cost is not None:
        ctx.store.settle(job.id, job.estimated_cost)  # made and paid, whatever happens next
    ctx.store.transition(
        job.id,
        JobState.FAILED,
        expect={JobState.COMPLETED, JobState.DOWNLOADING},
        category=ErrorCategory.DOWNLOAD,
        error=" ".join(reason.split())[:1000] + "; `reelforge retry` resumes the download",
    )


def _os_reason(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"cannot write the files{where}: {exc.strerror or type(exc).__name__}"
