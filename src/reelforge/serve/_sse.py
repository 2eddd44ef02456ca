"""The dashboard's live updates: the outbox as server-sent events.

``GET /stream?after=N`` (or the browser's ``Last-Event-ID`` on reconnect) follows the
``job_events`` table from event ``N``: every process writing to the database (the served
engine, a ``reelforge run`` elsewhere, a person's review) shows up, at most
:data:`POLL_INTERVAL` seconds late. Each outbox event becomes one ``job`` message carrying the
job as it is now (state, progress, cost, review); after each read, a ``batch`` message per
batch touched carries its counts. A comment every :data:`KEEPALIVE` seconds keeps proxies from
closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from reelforge.serve.state import ServeState
from reelforge.store import EventKind, EventRow, JobNotFoundError, JobRow, Store

__all__ = ["KEEPALIVE", "POLL_INTERVAL", "stream"]

POLL_INTERVAL = 0.5
"""Seconds between two reads of the outbox."""
KEEPALIVE = 15.0
"""Seconds of silence after which a comment is sent."""
_BATCH_READ = 200


def _cursor(request: Request) -> int:
    for raw in (request.headers.get("last-event-id"), request.query_params.get("after")):
        if raw is not None and raw.isdigit():
            return int(raw)
    return 0


def _money(value: object) -> str | None:
    return None if value is None else str(value)


def _messages(store: Store, events: Sequence[EventRow]) -> list[str]:
    """The ``job`` messages for ``events`` and a ``batch`` message per batch they touch."""
    out: list[str] = []
    batches: dict[str, None] = {}
    jobs: dict[str, JobRow | None] = {}
    for event in events:
        if event.job_id not in jobs:
            try:
                jobs[event.job_id] = store.get_job(event.job_id)
            except JobNotFoundError:
                jobs[event.job_id] = None
        job = jobs[event.job_id]
        if job is None:
            continue
        data: dict[str, Any] = {
            "event_id": event.id,
            "kind": event.kind.value,
            "job_id": job.id,
            "batch_id": job.batch_id,
            "state": job.state.value,
            "progress": job.progress,
            "cost": _money(job.actual_cost if job.actual_cost is not None else job.estimated_cost),
        }
        if event.kind is EventKind.REVIEW:
            data["review"] = {
                "verdict": event.data.get("verdict"),
                "note": event.data.get("note"),
            }
        out.append(f"id: {event.id}\nevent: job\ndata: {json.dumps(data)}\n\n")
        batches[job.batch_id] = None
    for batch_id in batches:
        summary = store.batch_summary(batch_id)
        data = {
            "batch_id": batch_id,
            "total": summary.total,
            "counts": {state.value: n for state, n in summary.counts.items() if n},
            "cost": str(summary.actual + summary.reserved),
        }
        out.append(f"event: batch\ndata: {json.dumps(data)}\n\n")
    return out


def _stopping(state: ServeState) -> bool:
    """Whether the server is stopping (``state.stopping``, a :class:`threading.Event` the
    runner sets before it closes the server): open streams then end, so none holds the
    shutdown up until uvicorn gives up on it."""
    return state.stopping.is_set()


async def _follow(request: Request, state: ServeState, cursor: int) -> AsyncIterator[str]:
    store = state.store
    yield "retry: 2000\n\n"
    quiet_since = time.monotonic()
    while not _stopping(state) and not await request.is_disconnected():
        events = await asyncio.to_thread(store.events_after, cursor, _BATCH_READ)
        if events:
            cursor = events[-1].id
            for message in await asyncio.to_thread(_messages, store, events):
                yield message
            quiet_since = time.monotonic()
            if len(events) == _BATCH_READ:
                continue
        elif time.monotonic() - quiet_since >= KEEPALIVE:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(POLL_INTERVAL)


def stream(state: ServeState) -> Route:
    """``GET /stream``: the outbox after ``?after=`` (or ``Last-Event-ID``) as server-sent
    events."""

    async def endpoint(request: Request) -> StreamingResponse:
        return StreamingResponse(
            _follow(request, state, _cursor(request)),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    return Route("/stream", endpoint, methods=["GET"], name="dashboard:stream")
