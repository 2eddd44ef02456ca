"""The job life cycle as a table of allowed edges (DESIGN section 5).

::

    pending ─▶ rejected
    pending ─▶ waiting ─▶ submitting ─▶ queued ─▶ in_progress ─▶ completed ─▶ downloading ─▶ done
                              │
                              ├─▶ needs_review   (ambiguous submission; or, from queued and
                              │                   in_progress, a timeout: still collectable)
                              ├─▶ failed         (refused or failed on the provider)
                              └─▶ waiting        (the request provably created nothing)

``done``, ``rejected`` and ``canceled`` are terminal. ``failed`` and ``needs_review`` go back
to ``waiting`` only through an explicit retry (:meth:`reelforge.store.Store.retry`), never
through an ordinary transition: a resubmission may cost money, so it is always a decision.

This table says which edges exist. :class:`reelforge.store.Store` also says which door each
edge goes through: entering ``submitting`` takes an intent, leaving it for a state that exists
on the provider takes the remote id, and going back to ``waiting`` takes the intent's token.
"""

from __future__ import annotations

from collections.abc import Mapping

from reelforge.core.models import JobState

__all__ = [
    "EDGES",
    "RETRYABLE",
    "TERMINAL",
    "can_retry",
    "can_transition",
]

_S = JobState

EDGES: Mapping[JobState, frozenset[JobState]] = {
    _S.PENDING: frozenset({_S.WAITING, _S.REJECTED, _S.CANCELED}),
    _S.WAITING: frozenset({_S.SUBMITTING, _S.REJECTED, _S.CANCELED}),
    # No cancel while submitting: the create request may be out, and a local cancel would
    # lose a paid job. Cancel once the remote id is known, or resolve the review first.
    _S.SUBMITTING: frozenset(
        {_S.QUEUED, _S.IN_PROGRESS, _S.COMPLETED, _S.FAILED, _S.NEEDS_REVIEW, _S.WAITING}
    ),
    # ``needs_review`` from here: the job outlived its timeout and stays collectable.
    _S.QUEUED: frozenset({_S.IN_PROGRESS, _S.COMPLETED, _S.FAILED, _S.CANCELED, _S.NEEDS_REVIEW}),
    _S.IN_PROGRESS: frozenset({_S.COMPLETED, _S.FAILED, _S.CANCELED, _S.NEEDS_REVIEW}),
    # ``failed`` here means the assets expired before they could be fetched.
    _S.COMPLETED: frozenset({_S.DOWNLOADING, _S.FAILED}),
    # Back to ``completed`` when a download must be retried (e.g. after re-fetching the URLs).
    _S.DOWNLOADING: frozenset({_S.DONE, _S.FAILED, _S.COMPLETED}),
    # A review ends by adopting a remote job found by reconciliation, or by giving up.
    _S.NEEDS_REVIEW: frozenset({_S.QUEUED, _S.IN_PROGRESS, _S.COMPLETED, _S.FAILED, _S.CANCELED}),
    _S.FAILED: frozenset(),
    _S.DONE: frozenset(),
    _S.REJECTED: frozenset(),
    _S.CANCELED: frozenset(),
}
"""Every ordinary transition: ``EDGES[current]`` is the set of states ``current`` may go to."""

TERMINAL: frozenset[JobState] = frozenset({_S.DONE, _S.REJECTED, _S.CANCELED})
"""States a job never leaves."""

RETRYABLE: frozenset[JobState] = frozenset({_S.FAILED, _S.NEEDS_REVIEW})
"""States an explicit retry may send back to ``waiting``."""


def can_transition(current: JobState, to: JobState) -> bool:
    """Whether an ordinary transition from ``current`` to ``to`` is allowed."""
    return to in EDGES[current]


def can_retry(current: JobState) -> bool:
    """Whether an explicit retry may send a job in ``current`` back to ``waiting``."""
    return current in RETRYABLE
