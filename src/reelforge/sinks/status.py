"""How far behind each sink is: :func:`sink_status`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reelforge.store import Store

__all__ = ["SinkStatus", "sink_status"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SinkStatus:
    """One sink's progress through the outbox."""

    name: str
    cursor: int
    """The id of the last event delivered or skipped (0: none yet)."""
    head: int
    """The id of the newest event in the outbox."""
    lag_events: int
    """Events recorded after the cursor, not yet delivered."""
    lag_seconds: float
    """How long the oldest undelivered event has waited (0 when caught up)."""
    delivered: int
    skipped: int
    last_error: str | None
    last_error_at: float | None
    disabled: bool
    disabled_reason: str | None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {
            "name": self.name,
            "cursor": self.cursor,
            "head": self.head,
            "lag_events": self.lag_events,
            "lag_seconds": round(self.lag_seconds, 3),
            "delivered": self.delivered,
            "skipped": self.skipped,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "disabled": self.disabled,
            "disabled_reason": self.disabled_reason,
        }


def sink_status(
    store: Store,
    names: Sequence[str] | None = None,
    *,
    now: Callable[[], float] = time.time,
) -> list[SinkStatus]:
    """The status of the named sinks, in that order (a sink that never ran starts at cursor
    0), or of every sink the database knows when ``names`` is None."""
    statuses = []
    for state in store.sink_cursors(names):
        backlog = store.outbox_backlog(state.cursor)
        waited = 0.0 if backlog.oldest_at is None else max(0.0, now() - backlog.oldest_at)
        statuses.append(
            SinkStatus(
                name=state.name,
                cursor=state.cursor,
                head=backlog.head,
                lag_events=backlog.events,
                lag_seconds=waited,
                delivered=state.delivered,
                skipped=state.skipped,
                last_error=state.last_error,
                last_error_at=state.last_error_at,
                disabled=state.disabled,
                disabled_reason=state.disabled_reason,
            )
        )
    return statuses
