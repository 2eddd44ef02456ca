"""Mapping provider statuses onto the local life cycle."""

from __future__ import annotations

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState, RemoteState

__all__ = ["FINAL", "local_state"]

_LOCAL = {
    RemoteState.QUEUED: JobState.QUEUED,
    RemoteState.IN_PROGRESS: JobState.IN_PROGRESS,
    RemoteState.COMPLETED: JobState.COMPLETED,
    RemoteState.FAILED: JobState.FAILED,
    RemoteState.CANCELED: JobState.CANCELED,
    RemoteState.EXPIRED: JobState.FAILED,
}

FINAL: frozenset[JobState] = frozenset(
    {JobState.DONE, JobState.FAILED, JobState.REJECTED, JobState.CANCELED, JobState.NEEDS_REVIEW}
)
"""States in which a job's workflow ends (``failed`` and ``needs_review`` wait for a person)."""


def local_state(remote: RemoteState) -> tuple[JobState, ErrorCategory | None]:
    """The local state for a provider status, and the error category it implies."""
    category = ErrorCategory.EXPIRED if remote is RemoteState.EXPIRED else None
    return _LOCAL[remote], category
