"""The JSON documents of the served API (and what the dashboard shows): a batch with its counts,
costs, providers and ETA; a job with its history and files; an outbox event.

Money is a decimal string in US dollars, times ISO 8601 in UTC, states and kinds their enum
values. Each function reads the store; call it off the event loop (``asyncio.to_thread``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from reelforge.core.models import JobState
from reelforge.engine.outcome import FINAL
from reelforge.store import AssetRow, BatchRow, EventRow, JobRow, Store

__all__ = ["batch_view", "eta_seconds", "event_view", "job_summary", "job_view", "plain"]


def _time(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def plain(value: Any) -> Any:
    """``value`` with enums, decimals, paths and mappings made JSON-ready."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def eta_seconds(jobs: Sequence[JobRow], now: float) -> float | None:
    """Seconds until every job has ended, at the pace jobs have ended so far: 0 when none is
    left, None while no job has ended since the first was sent (no pace yet)."""
    left = sum(1 for job in jobs if job.state not in FINAL)
    if left == 0:
        return 0.0
    started = [job.submitted_at for job in jobs if job.submitted_at is not None]
    ended = sum(1 for job in jobs if job.state in FINAL and job.submitted_at is not None)
    if not started or ended == 0:
        return None
    elapsed = max(now - min(started), 1e-3)
    return round(left * elapsed / ended, 1)


def batch_view(store: Store, batch: BatchRow, *, now: float) -> dict[str, Any]:
    """A batch: counts per state (every state), cost so far against its budget, its providers
    (jobs per provider), whether a live process runs it, and an ETA."""
    summary = store.batch_summary(batch.id)
    jobs = store.jobs(batch.id)
    runner = store.batch_runner(batch.id)
    unfinished = sum(1 for job in jobs if job.state not in FINAL)
    return {
        "id": batch.id,
        "name": batch.name,
        "state": batch.state.value,
        "created_at": _time(batch.created_at),
        "updated_at": _time(batch.updated_at),
        "out_dir": batch.out_dir,
        "total": summary.total,
        "unfinished": unfinished,
        "counts": {state.value: summary.counts.get(state, 0) for state in JobState},
        "cost": {
            "estimated": _money(summary.estimated),
            "reserved": _money(summary.reserved),
            "actual": _money(summary.actual),
            "budget": _money(summary.budget_usd),
        },
        "providers": dict(sorted(Counter(job.provider for job in jobs).items())),
        "max_in_flight": batch.max_in_flight,
        "running": runner is not None,
        "eta_seconds": eta_seconds(jobs, now),
    }


def job_summary(job: JobRow) -> dict[str, Any]:
    """A job as a line of its batch's list."""
    return {
        "id": job.id,
        "batch_id": job.batch_id,
        "key": job.key,
        "position": job.position,
        "provider": job.provider,
        "model": job.model,
        "seconds": job.seconds,
        "size": job.size,
        "labels": dict(job.labels),
        "state": job.state.value,
        "progress": job.progress,
        "remote_id": job.remote_id,
        "category": job.category.value if job.category is not None else None,
        "error": job.error,
        "cost": {"estimated": _money(job.estimated_cost), "actual": _money(job.actual_cost)},
        "updated_at": _time(job.updated_at),
    }


def event_view(event: EventRow) -> dict[str, Any]:
    """One outbox event."""
    return {
        "id": event.id,
        "job_id": event.job_id,
        "batch_id": event.batch_id,
        "at": _time(event.at),
        "kind": event.kind.value,
        "state": event.state.value if event.state is not None else None,
        "progress": event.progress,
        "data": plain(event.data),
    }


def _file(asset: AssetRow) -> dict[str, Any]:
    return {
        "variant": asset.variant.value,
        "path": str(asset.path),
        "bytes": asset.bytes,
        "sha256": asset.sha256,
        "derived": asset.derived,
        "downloaded_at": _time(asset.downloaded_at),
    }


def _request_ids(history: Sequence[EventRow]) -> list[str]:
    """The provider request ids the job's events recorded (errors carry them), in order."""
    seen: dict[str, None] = {}
    for event in history:
        for key in ("request_id", "request_ids"):
            value = event.data.get(key)
            values = value if isinstance(value, list) else [value]
            for item in values:
                if isinstance(item, str) and item:
                    seen.setdefault(item, None)
    return list(seen)


def job_view(store: Store, job: JobRow) -> dict[str, Any]:
    """A job in full: its spec and prompt, state, remote id, provider request ids, error,
    files (size, sha256) and history (its events, oldest first)."""
    history = store.history(job.id)
    return {
        **job_summary(job),
        "account": job.account,
        "prompt": job.prompt,
        "spec": plain(job.spec.to_dict()),
        "attempt": job.attempt,
        "request_ids": _request_ids(history),
        "submitted_at": _time(job.submitted_at),
        "completed_at": _time(job.completed_at),
        "created_at": _time(job.created_at),
        "files": [_file(asset) for asset in store.assets(job.id)],
        "history": [event_view(event) for event in history],
    }
