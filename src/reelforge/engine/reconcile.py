"""Reconciliation: finding out whether an ambiguous create made a job (DESIGN section 5, step 4).

After a create whose outcome is unknown (a timeout, a dropped connection, a 5xx, or a crash
between the intent and recording the remote id), list the provider's recent jobs and match them:
on the job's idempotency token where the provider echoes it back (it went with the create),
otherwise on prompt, model, length, size and creation window — and, where the provider echoes
the model input (Replicate), on that input being the one the job sends. One match: adopt it.
Several, or a provider that cannot list: ``needs_review``, decided by a person, never a second
payment.

None: the job may still appear. The original request can reach the provider until it ends —
at the latest :attr:`ReconcilePolicy.create_timeout` after the intent, when the engine aborts
it — and a listing may lag behind a create by :attr:`ReconcilePolicy.listing_lag`. Only once
both have passed (the job's ``resend_after``) does "not listed" mean "never created", and the
create is sent again as a recorded decision.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reelforge.core.capabilities import capabilities_for
from reelforge.core.errors import ReelforgeError
from reelforge.core.models import JobSpec, RemoteStatus
from reelforge.providers.inputs import model_input

__all__ = ["Decision", "ReconcilePolicy", "Verdict", "decide", "matches", "same_input"]


class Verdict(StrEnum):
    """What reconciliation concluded."""

    ADOPT = "adopt"
    """Exactly one remote job matches: it is ours."""
    WAIT = "wait"
    """No match yet, but the original request may still arrive or the listing may lag."""
    RESUBMIT = "resubmit"
    """No match once the request can no longer arrive and the listing has caught up."""
    REVIEW = "review"
    """Several matches, or no way to know: a person decides."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ReconcilePolicy:
    """How reconciliation matches, and how long "not listed" may still mean "not yet"."""

    create_timeout: float = 90.0
    """Longest a create request may take from start to end; the engine aborts it then."""
    listing_lag: float = 30.0
    """Seconds after a create during which the provider's listing may not show the job yet."""
    skew: float = 120.0
    """Seconds of clock difference tolerated between us and the provider."""
    resubmit: bool = True
    """Submit again when nothing matched in time (needs a provider that lists)."""

    def __post_init__(self) -> None:
        if self.create_timeout <= 0:
            raise ValueError("create_timeout must be positive")
        if self.listing_lag < 0 or self.skew < 0:
            raise ValueError("listing_lag and skew must not be negative")

    @property
    def window(self) -> float:
        """Seconds after an intent until an unlisted create is known never to have arrived."""
        return self.create_timeout + self.listing_lag


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """A verdict, the adopted job if any, and every candidate that was considered."""

    verdict: Verdict
    adopted: RemoteStatus | None = None
    candidates: tuple[str, ...] = ()
    wait: float = 0.0


def matches(status: RemoteStatus, spec: JobSpec, *, since: float, token: str | None = None) -> bool:
    """Whether ``status`` could be the job created for ``spec`` (with ``token``) at or after
    ``since``. A token the provider echoes back decides alone: the same prompt sent twice is
    still two jobs."""
    if status.created_at is not None and status.created_at < since:
        return False
    if status.token is not None and token is not None:
        return status.token == token
    if status.input is not None and not same_input(status.input, spec):
        return False
    return (
        status.prompt == spec.prompt
        and (status.model is None or status.model == spec.model)
        and (status.seconds is None or status.seconds == spec.seconds)
        and (status.size is None or status.size == spec.size)
    )


def same_input(echoed: Mapping[str, Any], spec: JobSpec) -> bool:
    """Whether a listed job's input (as the provider echoes it) is the one ``spec`` sends:
    every field sent has the same value. Inline images (``data:`` URLs) only need to be
    there (a provider may store them as files); fields the provider added are ignored."""
    try:
        sent = model_input(spec, capabilities_for(spec.model, spec.provider))
    except ReelforgeError:  # an image that can no longer be read: the prompt must do
        return True
    for key, value in sent.items():
        if isinstance(value, str) and value.startswith("data:"):
            if key not in echoed:
                return False
        elif echoed.get(key) != value:
            return False
    return True


def decide(
    remote_jobs: Iterable[RemoteStatus],
    spec: JobSpec,
    *,
    intent_at: float,
    now: float,
    taken: Collection[str],
    can_list: bool,
    policy: ReconcilePolicy,
    resend_after: float | None = None,
    token: str | None = None,
) -> Decision:
    """Decide what an ambiguous submission became, from the provider's recent jobs.

    ``taken`` holds remote ids other jobs already own: they are never adopted twice.
    ``resend_after`` is when "not listed" starts to mean "never created" (recorded with the
    intent; by default the intent plus :attr:`ReconcilePolicy.window`). ``token`` is the
    intent's idempotency token, matched where the provider echoes it back.
    """
    if not can_list:
        return Decision(verdict=Verdict.REVIEW)
    since = intent_at - policy.skew
    found = [
        job
        for job in remote_jobs
        if job.remote_id not in taken and matches(job, spec, since=since, token=token)
    ]
    ids = tuple(job.remote_id for job in found)
    if len(found) == 1:
        return Decision(verdict=Verdict.ADOPT, adopted=found[0], candidates=ids)
    if found:
        return Decision(verdict=Verdict.REVIEW, candidates=ids)
    deadline = resend_after if resend_after is not None else intent_at + policy.window
    if now < deadline:
        return Decision(verdict=Verdict.WAIT, wait=deadline - now)
    if policy.resubmit:
        return Decision(verdict=Verdict.RESUBMIT)
    return Decision(verdict=Verdict.REVIEW)
