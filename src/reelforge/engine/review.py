"""Settling ``needs_review`` jobs: what reconciliation says now, and a person's decisions.

A job needs review for one of two reasons (DESIGN section 5 and 7):

- it *timed out*: it has a remote id, and the provider may since have finished it; fetching it
  tells whether it can be collected (adopted and downloaded), has failed, or is still running;
- its create was *ambiguous* and reconciliation could not decide: listing the provider's recent
  jobs again may now find exactly one match (adopted), several (a person picks one with
  :func:`adopt`), or none (a person resubmits, which may be billed again, or abandons it).

:func:`examine` finds out without changing anything; :func:`settle` applies the safe answers
(adopting a unique match or a finished job, recording a failure). The decisions that may cost
money or lose a job are separate functions: :func:`adopt`, :func:`resubmit`, :func:`abandon`.
Jobs that were adopted or resubmitted are then run to the end by an engine (:func:`run_jobs`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from reelforge.core.errors import (
    ErrorCategory,
    InvalidSpecError,
    NotFoundError,
    UnsupportedOperationError,
)
from reelforge.core.models import JobState, RemoteState, RemoteStatus
from reelforge.engine.logic import LIST
from reelforge.engine.outcome import FINAL, local_state
from reelforge.engine.reconcile import ReconcilePolicy, Verdict, decide, matches
from reelforge.engine.records import write_ending
from reelforge.engine.runner import Engine
from reelforge.providers.base import Provider
from reelforge.store import JobRow, Store, can_transition

__all__ = [
    "AUTOMATIC",
    "Finding",
    "Plan",
    "abandon",
    "adopt",
    "examine",
    "resubmit",
    "run_jobs",
    "settle",
    "spec_matches",
]


class Plan(StrEnum):
    """What reconciliation would do with a ``needs_review`` job now."""

    COLLECT = "collect"
    """It timed out but has since completed on the provider: adopt it and download it."""
    ADOPT = "adopt"
    """Exactly one remote job matches its ambiguous create: adopt that one."""
    RECORD_FAILURE = "record_failure"
    """The provider says its job ended without a video: record the failure (nothing billed)."""
    STILL_RUNNING = "still_running"
    """Its remote job is still queued or generating: look again later."""
    CHOOSE = "choose"
    """Several remote jobs match: a person picks one (``--adopt JOB REMOTE_ID``)."""
    NO_MATCH = "no_match"
    """Nothing on the provider matches: resubmit (may be billed again) or abandon."""
    UNKNOWN = "unknown"
    """No way to tell (the provider cannot list, or its job is gone): a person decides."""
    OTHER_ACCOUNT = "other_account"
    """Submitted with other credentials: run again with that base URL and key."""


AUTOMATIC = frozenset({Plan.COLLECT, Plan.ADOPT, Plan.RECORD_FAILURE})
"""Plans that :func:`settle` applies without a person: none of them can cost money."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """One ``needs_review`` job, why it is there, and what to do now."""

    job: JobRow
    plan: Plan
    detail: str
    candidates: tuple[str, ...] = ()
    status: RemoteStatus | None = field(default=None, compare=False)
    """The remote job this plan is about (fetched, or the unique match)."""

    @property
    def automatic(self) -> bool:
        """Whether :func:`settle` applies this plan by itself."""
        return self.plan in AUTOMATIC


async def examine(
    store: Store,
    provider: Provider,
    jobs: Sequence[JobRow],
    *,
    account: str,
    now: float,
    policy: ReconcilePolicy | None = None,
) -> list[Finding]:
    """What reconciliation says about each of ``jobs`` now (nothing is changed).

    ``provider`` must be the one of ``account``; jobs of other accounts are reported as such.
    """
    policy = policy or ReconcilePolicy()
    listing: list[RemoteStatus] | None = None
    findings = []
    for job in jobs:
        if job.account != account:
            findings.append(
                Finding(
                    job=job,
                    plan=Plan.OTHER_ACCOUNT,
                    detail="submitted with other credentials: run again with the base URL and "
                    "API key the batch ran with",
                )
            )
        elif job.remote_id is not None:
            findings.append(await _examine_created(provider, job))
        else:
            if listing is None:
                listing = await _listing(store, provider, jobs, policy)
            findings.append(_examine_ambiguous(store, provider, job, listing, now, policy))
    return findings


async def _listing(
    store: Store, provider: Provider, jobs: Sequence[JobRow], policy: ReconcilePolicy
) -> list[RemoteStatus]:
    starts = [job.intent_at for job in jobs if job.intent_at is not None]
    if not starts:
        return []
    if not any(_can_list(store, provider, job) for job in jobs):
        return []
    since = min(starts) - policy.skew
    try:
        return [status async for status in provider.list_recent(since=since)]
    except UnsupportedOperationError as exc:
        # Remembered for the account: every ambiguous create of it is then a person's call.
        for account in {job.account for job in jobs}:
            store.set_capability(account, LIST, supported=False, detail=str(exc))
        return []


def _can_list(store: Store, provider: Provider, job: JobRow) -> bool:
    return (
        provider.capabilities(job.model).can_list and store.supports(job.account, LIST) is not False
    )


async def _examine_created(provider: Provider, job: JobRow) -> Finding:
    assert job.remote_id is not None
    try:
        status = await provider.fetch(job.remote_id)
    except NotFoundError:
        return Finding(
            job=job,
            plan=Plan.UNKNOWN,
            detail=f"the provider no longer has {job.remote_id}: abandon it, or resubmit it "
            "(billed again)",
        )
    if status.state is RemoteState.COMPLETED:
        return Finding(
            job=job,
            plan=Plan.COLLECT,
            detail=f"{job.remote_id} has completed on the provider: collect it (already paid)",
            status=status,
        )
    if status.state in (RemoteState.QUEUED, RemoteState.IN_PROGRESS):
        return Finding(
            job=job,
            plan=Plan.STILL_RUNNING,
            detail=f"{job.remote_id} is still {status.state.value} ({status.progress}%): "
            "run reconcile again later",
            status=status,
        )
    reason = status.error.message if status.error else f"the job is {status.state.value}"
    return Finding(
        job=job,
        plan=Plan.RECORD_FAILURE,
        detail=f"{job.remote_id} ended without a video on the provider: {reason}",
        status=status,
    )


def _examine_ambiguous(
    store: Store,
    provider: Provider,
    job: JobRow,
    listing: Iterable[RemoteStatus],
    now: float,
    policy: ReconcilePolicy,
) -> Finding:
    if job.intent_at is None or job.intent_token is None:
        return Finding(
            job=job,
            plan=Plan.UNKNOWN,
            detail="no submission intent is recorded: resubmit or abandon it",
        )
    remote = list(listing)
    taken = {
        s.remote_id
        for s in remote
        if (owner := store.find_by_remote_id(s.remote_id)) is not None and owner.id != job.id
    }
    decision = decide(
        remote,
        job.spec,
        intent_at=job.intent_at,
        now=now,
        taken=taken,
        can_list=_can_list(store, provider, job),
        # A person is asking: the listing has had its chance, and resubmitting is their call.
        policy=replace(policy, resubmit=True),
        resend_after=now,
        token=job.intent_token,
    )
    if decision.verdict is Verdict.ADOPT:
        assert decision.adopted is not None
        return Finding(
            job=job,
            plan=Plan.ADOPT,
            detail=f"exactly one remote job matches: adopt {decision.adopted.remote_id} "
            "(already paid; no new charge)",
            candidates=decision.candidates,
            status=decision.adopted,
        )
    if decision.candidates:
        return Finding(
            job=job,
            plan=Plan.CHOOSE,
            detail=f"{len(decision.candidates)} remote jobs match: pick one with "
            "--adopt JOB REMOTE_ID",
            candidates=decision.candidates,
        )
    if decision.verdict is Verdict.RESUBMIT:
        return Finding(
            job=job,
            plan=Plan.NO_MATCH,
            detail="no remote job matches: --resubmit it (may be billed again) or --abandon it",
        )
    refused = store.capabilities(job.account).get(LIST)
    why = f" ({refused.detail})" if refused is not None and refused.detail else ""
    return Finding(
        job=job,
        plan=Plan.UNKNOWN,
        detail=f"the endpoint cannot list its jobs{why}, so whether the create made a video is "
        "unknown: look for it on the provider, then --adopt JOB REMOTE_ID, --resubmit JOB "
        "(may be billed again) or --abandon JOB",
    )


def settle(store: Store, finding: Finding) -> bool:
    """Apply an automatic plan; return whether the job now needs its workflow run.

    Fenced: a job that changed since it was examined is left alone (False).
    """
    job, status = finding.job, finding.status
    if finding.plan is Plan.COLLECT:
        assert status is not None
        return store.transition(
            job.id,
            JobState.COMPLETED,
            expect={JobState.NEEDS_REVIEW},
            progress=100,
            completed_at=status.completed_at,
            expires_at=status.expires_at,
            category=None,
            error=None,
            data={"reconciled": "collected after its timeout"},
        )
    if finding.plan is Plan.ADOPT:
        assert status is not None
        return _record_adoption(store, job, status, note="reconciled: adopted the one match")
    if finding.plan is Plan.RECORD_FAILURE:
        assert status is not None
        _record_failure(store, job, status)
    return False


def _record_adoption(store: Store, job: JobRow, status: RemoteStatus, *, note: str) -> bool:
    if job.intent_token is None:
        return False
    state, _ = local_state(status.state)
    ended = state in (JobState.FAILED, JobState.CANCELED)
    recorded = store.record_remote_id(
        job.id,
        job.intent_token,
        status.remote_id,
        state=JobState.QUEUED if ended else state,
        progress=status.progress,
        submitted_at=status.created_at,
        expires_at=status.expires_at,
        data={"reconciled": note},
    )
    if not recorded:
        return False
    store.record_note(job.id, f"{note}: {status.remote_id}")
    if ended:
        _record_failure(store, store.get_job(job.id), status)
        return False
    return True


def _record_failure(store: Store, job: JobRow, status: RemoteStatus) -> None:
    error = status.error
    store.transition(
        job.id,
        JobState.FAILED,
        expect={job.state},
        category=error.category if error else ErrorCategory.GENERATION_FAILED,
        error=error.message if error else f"the provider reports the job {status.state.value}",
    )


async def adopt(store: Store, provider: Provider, job: JobRow, remote_id: str) -> RemoteStatus:
    """A person's pick: record ``remote_id`` as the job's remote job (fenced by its intent).

    Raises :class:`InvalidSpecError` if the job is not in review, has another remote id, or
    the provider has no such job. Returns the remote job's status.
    """
    _require_review(job)
    if job.remote_id is not None and job.remote_id != remote_id:
        raise InvalidSpecError(
            f"job {job.id} already has remote id {job.remote_id}; it cannot adopt {remote_id}",
            field="remote_id",
            value=remote_id,
        )
    try:
        status = await provider.fetch(remote_id)
    except NotFoundError as exc:
        raise InvalidSpecError(
            f"the provider has no job {remote_id!r}: {exc}", field="remote_id", value=remote_id
        ) from exc
    if job.remote_id is not None:
        finding = await _examine_created(provider, job)
        settle(store, finding)
        return status
    if job.intent_token is None:
        raise InvalidSpecError(
            f"job {job.id} has no submission intent to fence the adoption with",
            field="job",
            value=job.id,
        )
    if not _record_adoption(store, job, status, note="adopted by a person"):
        now = store.get_job(job.id)
        if now.remote_id != remote_id:
            raise InvalidSpecError(
                f"job {job.id} changed meanwhile (now {now.state.value}); look again",
                field="job",
                value=job.id,
            )
    return status


def spec_matches(job: JobRow, status: RemoteStatus) -> bool:
    """Whether the remote job has the prompt and parameters of ``job`` (any creation time)."""
    return matches(status, job.spec, since=float("-inf"))


def resubmit(store: Store, job: JobRow) -> None:
    """Send the job back to ``waiting`` (its remote id and intent are forgotten)."""
    _require_review(job)
    store.retry(job.id)
    store.record_note(job.id, "resubmitted by a person after review")


def abandon(store: Store, job: JobRow, note: str) -> JobState:
    """Give the job up: ``canceled`` (or ``failed`` where canceling is not an edge), with a note.
    Its reservation is released; return the state it ended in."""
    _require_review(job)
    to = JobState.CANCELED if can_transition(job.state, JobState.CANCELED) else JobState.FAILED
    store.record_note(job.id, note)
    store.transition(
        job.id,
        to,
        expect={job.state},
        category=job.category if to is JobState.FAILED else None,
        error=note,
    )
    write_ending(store, job.id)
    return to


def _require_review(job: JobRow) -> None:
    if job.state is not JobState.NEEDS_REVIEW:
        raise InvalidSpecError(
            f"job {job.id} is {job.state.value}, not needs_review: nothing to reconcile",
            field="job",
            value=job.id,
        )


async def run_jobs(
    engine: Engine,
    job_ids: Sequence[str],
    *,
    interval: float = 0.25,
    on_update: Callable[[list[JobRow]], None] | None = None,
) -> list[JobRow]:
    """Start a workflow for each job on a running ``engine`` and wait until they all end."""
    for job_id in job_ids:
        await engine.start(job_id)
    while True:
        rows = [engine.store.get_job(job_id) for job_id in job_ids]
        if on_update is not None:
            on_update(rows)
        if all(row.state in FINAL for row in rows):
            return rows
        await asyncio.sleep(interval)
