"""What every sink implements, and the errors a delivery may end with.

A sink receives the events of the ``job_events`` outbox in order (per job, and overall),
one at a time, each with a snapshot of its job as the store holds it at delivery time. The
runner (:mod:`reelforge.sinks.runner`) owns the cursor, coalesces progress ticks, retries
with backoff and records errors; a sink only turns one event into its side effect.

Delivery is at least once: after a crash, the events after the last committed cursor are
delivered again, so :meth:`Sink.deliver` must be idempotent (a replayed event changes
nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from reelforge.core.errors import ErrorCategory, ReelforgeError
from reelforge.store.rows import AssetRow, EventRow, JobRow, Review

__all__ = [
    "Sink",
    "SinkDisabledError",
    "SinkError",
    "SinkEvent",
    "SinkRejectedError",
    "SinkUnavailableError",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class SinkEvent:
    """One outbox event, with its job and the job's assets as they are now."""

    event: EventRow
    job: JobRow
    assets: Sequence[AssetRow] = ()
    review: Review | None = None
    """The job's latest review (a person's verdict on the clip), as it is now."""
    origin: str = ""
    """A short, stable tag of the database the event comes from (a hash of its URL without
    password), so ids built from it stay unique when several databases feed one destination."""


@runtime_checkable
class Sink(Protocol):
    """A destination for job events."""

    @property
    def name(self) -> str:
        """Stable and unique (``"notion"``, ``"webhook:ab12cd34"``, ``"jsonl:events"``): the
        key of this sink's durable cursor. Never contains a secret."""
        ...

    async def deliver(self, item: SinkEvent) -> None:
        """Deliver one event, idempotently. Raise :class:`SinkUnavailableError` for a
        transient failure (retried with backoff), :class:`SinkRejectedError` when this
        event can never be delivered (recorded and skipped), :class:`SinkDisabledError`
        when the destination asked to stop (the sink is disabled until re-enabled)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class SinkError(ReelforgeError):
    """A sink could not deliver an event."""


class SinkUnavailableError(SinkError):
    """The destination is down or throttling; try again (after ``retry_after`` seconds
    when the destination said so)."""

    category = ErrorCategory.TRANSIENT

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SinkRejectedError(SinkError):
    """The destination refused this event for good (a 4xx that retrying cannot fix)."""


class SinkDisabledError(SinkError):
    """The destination asked never to be called again (a webhook endpoint's 410 Gone)."""
