"""Reconciliation: finding out whether an ambiguous create made a job (DESIGN section 5, step 4).

After a create whose outcome is unknown (a timeout, a dropped connection, a 5xx, or a crash
between the intent and recording the remote id), list the provider's recent jobs and match them
on prompt, model, length, size and creation window. One match: adopt it. None after a grace
period: nothing was created, so submitting again is safe (where the provider can list). Several,
or a provider that cannot list: ``needs_review``, decided by a person, never a second payment.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from reelforge.core.models import JobSpec, RemoteStatus

__all__ = ["Decision", "ReconcilePolicy", "Verdict", "decide", "matches"]


class Verdict(StrEnum):
    """What reconciliation concluded."""

    ADOPT = "adopt"
    """Exactly one remote job matches: it is ours."""
    WAIT = "wait"
    """No match yet, but the grace period has not passed (the listing may lag)."""
    RESUBMIT = "resubmit"
    """No match after the grace period: nothing was created."""
    REVIEW = "review"
    """Several matches, or no way to know: a person decides."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ReconcilePolicy:
    """How reconciliation matches and how long it waits for a listing to show a job."""

    grace: float = 10.0
    """Seconds after the intent during which an absent job may still appear in the listing."""
    skew: float = 120.0
    """Seconds of clock difference tolerated between us and the provider."""
    resubmit: bool = True
    """Submit again when nothing matched after the grace period (needs a provider that lists)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """A verdict, the adopted job if any, and every candidate that was considered."""

    verdict: Verdict
    adopted: RemoteStatus | None = None
    candidates: tuple[str, ...] = ()
    wait: float = 0.0


def matches(status: RemoteStatus, spec: JobSpec, *, since: float) -> bool:
    """Whether ``status`` could be the job created for ``spec`` at or after ``since``."""
    if status.created_at is not None and status.created_at < since:
        return False
    return (
        status.prompt == spec.prompt
        and (status.model is None or status.model == spec.model)
        and (status.seconds is None or status.seconds == spec.seconds)
        and (status.size is None or status.size == spec.size)
    )


def decide(
    remote_jobs: Iterable[RemoteStatus],
    spec: JobSpec,
    *,
    intent_at: float,
    now: float,
    taken: Collection[str],
    can_list: bool,
    policy: ReconcilePolicy,
) -> Decision:
    """Decide what an ambiguous submission became, from the provider's recent jobs.

    ``taken`` holds remote ids other jobs already own: they are never adopted twice.
    """
    if not can_list:
        return Decision(verdict=Verdict.REVIEW)
    since = intent_at - policy.skew
    found = [
        job for job in remote_jobs if job.remote_id not in taken and matches(job, spec, since=since)
    ]
    ids = tuple(job.remote_id for job in found)
    if len(found) == 1:
        return Decision(verdict=Verdict.ADOPT, adopted=found[0], candidates=ids)
    if found:
        return Decision(verdict=Verdict.REVIEW, candidates=ids)
    waited = now - intent_at
    if waited < policy.grace:
        return Decision(verdict=Verdict.WAIT, wait=policy.grace - waited)
    if policy.resubmit:
        return Decision(verdict=Verdict.RESUBMIT)
    return Decision(verdict=Verdict.REVIEW)
