"""Errors the store raises, all under :class:`~reelforge.core.errors.ReelforgeError`.

::

    ReelforgeError
    └── StoreError                    the database refused or could not be reached
        ├── BatchNotFoundError        no batch has that id
        ├── JobNotFoundError          no job has that id
        ├── IllegalTransitionError    the life cycle has no such edge (DESIGN section 5)
        ├── RemoteIdConflictError     the remote id already belongs to another job
        └── SchemaTooNewError         the database was written by a newer reelforge

SQLAlchemy's exceptions never leave the store: they are translated to :class:`StoreError`
with ``raise ... from exc``.
"""

from __future__ import annotations

from reelforge.core.errors import ErrorCategory, ReelforgeError
from reelforge.core.models import JobState

__all__ = [
    "BatchNotFoundError",
    "IllegalTransitionError",
    "JobNotFoundError",
    "RemoteIdConflictError",
    "SchemaTooNewError",
    "StoreError",
]


class StoreError(ReelforgeError):
    """The database refused an operation or could not be reached."""

    category = ErrorCategory.TRANSIENT


class JobNotFoundError(StoreError):
    """No job has the given id."""

    category = ErrorCategory.NOT_FOUND

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


class IllegalTransitionError(StoreError):
    """The job's life cycle has no edge from its current state to the requested one."""

    category = ErrorCategory.INVALID_REQUEST

    def __init__(
        self, job_id: str, current: JobState, to: JobState, *, reason: str | None = None
    ) -> None:
        message = f"job {job_id!r} cannot go from {current.value!r} to {to.value!r}"
        super().__init__(f"{message}: {reason}" if reason else message)
        self.job_id = job_id
        self.current = current
        self.to = to


class RemoteIdConflictError(StoreError):
    """A remote id was offered for a job while another job already holds it."""

    category = ErrorCategory.INVALID_REQUEST

    def __init__(self, job_id: str, remote_id: str, owner: str) -> None:
        super().__init__(f"remote id {remote_id!r} for job {job_id!r} already belongs to {owner!r}")
        self.job_id = job_id
        self.remote_id = remote_id
        self.owner = owner


class BatchNotFoundError(StoreError):
    """No batch has the given id."""

    category = ErrorCategory.NOT_FOUND

    def __init__(self, batch_id: str) -> None:
        super().__init__(f"no batch with id {batch_id!r}")
        self.batch_id = batch_id


class SchemaTooNewError(StoreError):
    """The database's schema is of a version this reelforge does not know (a newer one wrote
    it). Nothing was changed."""

    category = ErrorCategory.INVALID_REQUEST

    def __init__(self, found: str, known: str) -> None:
        super().__init__(
            f"the database's schema is version {found}, newer than this reelforge knows "
            f"(up to {known}): a newer reelforge wrote it; upgrade reelforge to use it "
            "(nothing was changed)"
        )
        self.found = found
        self.known = known
