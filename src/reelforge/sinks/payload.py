"""The JSON document a webhook posts and a JSONL line holds, for one outbox event.

Documented in ``docs/webhooks.md``; the shape is::

    {"type": "job.state_changed", "timestamp": "2026-11-26T02:41:19.123456Z",
     "data": {"event_id": 42, "kind": "state", "job_id": "...", "state": "in_progress", ...}}

Money is a decimal string in US dollars; times are ISO 8601 in UTC; states, kinds and error
categories are the :class:`~reelforge.core.models.JobState`, :class:`~reelforge.store.EventKind`
and :class:`~reelforge.core.errors.ErrorCategory` values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from reelforge.core.models import JobState
from reelforge.sinks.base import SinkEvent
from reelforge.store import EventKind

__all__ = ["EVENT_TYPES", "encode", "event_type", "message_id", "payload"]

EVENT_TYPES: Mapping[EventKind, str] = {
    EventKind.STATE: "job.state_changed",
    EventKind.PROGRESS: "job.progress",
    EventKind.INTENT: "job.submitting",
    EventKind.REMOTE_ID: "job.submitted",
    EventKind.ASSET: "job.asset_downloaded",
    EventKind.COST: "job.cost",
    EventKind.NOTE: "job.note",
    EventKind.REVIEW: "job.reviewed",
}
"""The payload's ``type`` for each kind of event (a job's creation is ``job.created``)."""

CREATED = "job.created"


def event_type(item: SinkEvent) -> str:
    """The payload's ``type``: ``job.created`` for a job's first event, else by its kind."""
    event = item.event
    if (
        event.kind is EventKind.STATE
        and event.state is JobState.PENDING
        and "from" not in event.data
    ):
        return CREATED
    return EVENT_TYPES[event.kind]


def message_id(item: SinkEvent) -> str:
    """The event's stable id: ``evt_<database tag>_<event id>`` (``evt_<event id>`` with no
    tag). The same on every redelivery; different for another database's event 42."""
    if item.origin:
        return f"evt_{item.origin}_{item.event.id}"
    return f"evt_{item.event.id}"


def payload(item: SinkEvent) -> dict[str, Any]:
    """The document for one event: ``type``, ``timestamp`` (when the event was recorded) and
    ``data`` (the event, with its job as the store holds it at delivery)."""
    event, job = item.event, item.job
    error = None
    if job.category is not None or job.error is not None:
        error = {
            "category": job.category.value if job.category is not None else None,
            "message": job.error,
        }
    data: dict[str, Any] = {
        "event_id": event.id,
        "kind": event.kind.value,
        "job_id": job.id,
        "batch_id": job.batch_id,
        "key": job.key,
        "state": event.state.value if event.state is not None else None,
        "previous_state": _plain(event.data.get("from")),
        "progress": event.progress,
        "job_state": job.state.value,
        "job_progress": job.progress,
        "attempt": job.attempt,
        "provider": job.provider,
        "model": job.model,
        "seconds": job.seconds,
        "size": job.size,
        "prompt": job.prompt,
        "remote_id": job.remote_id,
        "error": error,
        "cost": {
            "currency": "USD",
            "estimated": _money(job.estimated_cost),
            "actual": _money(job.actual_cost),
        },
        "labels": dict(sorted(job.labels.items())),
        "assets": [
            {
                "variant": asset.variant.value,
                "path": str(asset.path),
                "bytes": asset.bytes,
                "sha256": asset.sha256,
            }
            for asset in item.assets
        ],
        "review": _review(item),
        "details": _plain(dict(event.data)),
    }
    return {"type": event_type(item), "timestamp": _iso(event.at), "data": data}


def _review(item: SinkEvent) -> dict[str, Any] | None:
    review = item.review
    if review is None:
        return None
    return {"verdict": review.verdict.value, "note": review.note, "at": _iso(review.at)}


def encode(document: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are signed and sent."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _iso(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _plain(value: Any) -> Any:
    """``value`` as plain JSON: enums as their values, decimals as strings."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
