"""Wire details of Replicate's predictions protocol: ids, times, durations, problem details and
the prediction object.

A Replicate job is a :class:`~reelforge.sim.state.Job` with ``protocol="replicate"``; what the
OpenAI shape has no room for lives in ``job.data``: the input as sent, the version, a webhook
and its event filter, a ``Cancel-After`` deadline and the file's delivery key.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from starlette.responses import JSONResponse

from reelforge.core.models import RemoteState
from reelforge.sim.protocol import ApiError
from reelforge.sim.state import MODERATION_MESSAGE, Job

__all__ = [
    "CONTENT_POLICY_ERROR",
    "GENERATION_ERROR",
    "PredictionStatus",
    "Problem",
    "completed_at",
    "data_removed",
    "file_key",
    "iso",
    "parse_cancel_after",
    "parse_iso",
    "prediction_id",
    "prediction_json",
    "prediction_status",
    "render_error",
    "version_id",
]

CONTENT_POLICY_ERROR = (
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
)
GENERATION_ERROR = "Prediction failed: the model did not produce a video. Please try again."
MIN_CANCEL_AFTER = 5.0
"""Replicate refuses a ``Cancel-After`` shorter than five seconds."""

_STATUS_TITLES = {
    400: "Bad Request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    416: "Range Not Satisfiable",
    422: "Input validation failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_UNAUTHENTICATED = "You did not pass a valid authentication token"
_SERVER_DETAIL = "An unexpected error occurred. Please try again."


class PredictionStatus(StrEnum):
    """A prediction's status word on the wire."""

    STARTING = "starting"
    """Created, waiting for a model instance (booting or queued)."""
    PROCESSING = "processing"
    """The model is running."""
    SUCCEEDED = "succeeded"
    """Finished with output."""
    FAILED = "failed"
    """Finished with an ``error``."""
    CANCELED = "canceled"
    """Canceled by the user, or its deadline passed while it ran (charged)."""
    ABORTED = "aborted"
    """Its deadline passed before it started (not charged)."""


@dataclass(kw_only=True)
class Problem(ApiError):
    """An RFC 7807 problem answer: ``title``, ``detail`` (the message) and extra members."""

    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def prediction_id(bits: int) -> str:
    """Replicate's id form: 128 random bits as 26 lowercase base32 letters and digits."""
    return base64.b32encode(bits.to_bytes(16, "big")).decode("ascii").rstrip("=").lower()


def version_id(model: str) -> str:
    """The (fake, stable) 64-hex version id the simulator gives ``model``."""
    return hashlib.sha256(f"reelforge-sim:{model}:version".encode()).hexdigest()


def iso(timestamp: float | None) -> str | None:
    """ISO 8601 in UTC with microseconds and ``Z``, as Replicate writes times."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> float | None:
    """Unix seconds of an ISO 8601 time (``Z`` or an offset; naive means UTC), else ``None``."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_cancel_after(text: str) -> float:
    """Seconds of a ``Cancel-After`` value: ``90``, ``90s``, ``5m``, ``2h30m``, ``1h30m45s``.

    A bare number is seconds. Raises :class:`Problem` (400) for anything else or for less than
    five seconds.
    """
    value = text.strip().lower()
    match = _DURATION_RE.match(value)
    if not value or match is None or not any(match.groups()):
        raise Problem(
            status=400,
            title="Invalid Cancel-After header",
            message=f"Cancel-After must be a duration such as 30s, 5m or 1h30m, got {text!r}.",
        )
    hours, minutes, seconds = match.groups()
    total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    if total < MIN_CANCEL_AFTER:
        raise Problem(
            status=400,
            title="Invalid Cancel-After header",
            message=f"Cancel-After must be at least 5 seconds, got {text!r}.",
        )
    return total


def render_error(error: ApiError) -> JSONResponse:
    """The problem-details body of ``error`` (a :class:`Problem` or an injected fault)."""
    headers = dict(error.headers)
    if error.status == 401:
        body: dict[str, Any] = {"title": "Unauthenticated", "detail": _UNAUTHENTICATED}
        body["status"] = 401
        return JSONResponse(body, status_code=401, headers=headers)
    if error.status == 429:
        wait = max(1, int(-(-float(headers.pop("retry-after", "1") or 1) // 1)))
        headers.pop("retry-after-ms", None)
        headers["ratelimit-remaining"] = "0"
        headers["ratelimit-reset"] = str(wait)
        detail = f"Request was throttled. Your rate limit resets in ~{wait}s."
        return JSONResponse({"detail": detail, "status": 429}, status_code=429, headers=headers)
    title = error.title if isinstance(error, Problem) and error.title else None
    detail = error.message
    if error.status >= 500 and not isinstance(error, Problem):
        detail = _SERVER_DETAIL
        headers.pop("retry-after-ms", None)
    body = {
        "type": "about:blank",
        "title": title or _STATUS_TITLES.get(error.status, "Error"),
        "status": error.status,
        "detail": detail,
    }
    if isinstance(error, Problem):
        body.update(error.extra)
    return JSONResponse(body, status_code=error.status, headers=headers)


def _deadline(job: Job) -> float | None:
    value = job.data.get("deadline")
    return float(value) if value is not None else None


def prediction_status(job: Job, now: float) -> PredictionStatus:
    """The status word of ``job`` at ``now``."""
    state, _ = job.status(now)
    if state is RemoteState.QUEUED:
        return PredictionStatus.STARTING
    if state is RemoteState.IN_PROGRESS:
        return PredictionStatus.PROCESSING
    if state is RemoteState.COMPLETED:
        return PredictionStatus.SUCCEEDED
    if state is RemoteState.FAILED:
        return PredictionStatus.FAILED
    deadline = _deadline(job)
    canceled = job.canceled_at if job.canceled_at is not None else now
    if deadline is not None and canceled == deadline and deadline <= job.started_at:
        return PredictionStatus.ABORTED
    return PredictionStatus.CANCELED


def completed_at(job: Job, now: float) -> float | None:
    """When ``job`` reached its terminal status, ``None`` while it runs."""
    state, _ = job.status(now)
    if not state.is_terminal:
        return None
    if state is RemoteState.CANCELED and job.canceled_at is not None:
        return job.canceled_at
    return job.finished_at


def data_removed(job: Job, now: float, retention: float) -> bool:
    """Whether ``retention`` real seconds have passed since ``job`` completed."""
    done = completed_at(job, now)
    return done is not None and now >= done + retention


def _logs(job: Job, status: PredictionStatus, now: float) -> str:
    if status in (PredictionStatus.STARTING, PredictionStatus.ABORTED):
        return ""
    lines = [f"Generating a {job.seconds}s video at {job.size}"]
    if status is PredictionStatus.SUCCEEDED:
        lines.append("Encoding output.mp4")
    elif status is PredictionStatus.FAILED:
        lines.append("Generation stopped")
    elif status is PredictionStatus.CANCELED:
        lines.append("Canceled")
    return "\n".join(lines) + "\n"


def _error(job: Job, status: PredictionStatus) -> str | None:
    if status is not PredictionStatus.FAILED:
        return None
    if job.fail_message == MODERATION_MESSAGE:
        return CONTENT_POLICY_ERROR
    return GENERATION_ERROR


def file_key(seed: int, prediction: str) -> str:
    """The unguessable path segment a prediction's output file is served under."""
    return hashlib.sha256(f"{seed}:{prediction}:output".encode()).hexdigest()[:32]


def prediction_json(job: Job, now: float, *, retention: float, seed: int) -> dict[str, Any]:
    """The prediction object at ``now``; ``retention`` is in real seconds."""
    status = prediction_status(job, now)
    base = str(job.data["base_url"]).rstrip("/")
    done = completed_at(job, now)
    removed = data_removed(job, now, retention)
    started = job.started_at if now >= job.started_at else None
    if started is not None and job.canceled_at is not None and job.canceled_at < job.started_at:
        started = None
    output = None
    if status is PredictionStatus.SUCCEEDED and not removed:
        output = f"{base}/delivery/{file_key(seed, job.id)}/output.mp4"
    metrics: dict[str, Any] = {}
    if done is not None and started is not None:
        metrics = {
            "predict_time": round(done - started, 6),
            "total_time": round(done - job.created_at, 6),
        }
    urls = {
        "get": f"{base}/v1/predictions/{job.id}",
        "cancel": f"{base}/v1/predictions/{job.id}/cancel",
        "web": f"{base}/p/{job.id}",
    }
    deadline = _deadline(job)
    return {
        "id": job.id,
        "model": job.model,
        "version": job.data.get("version", "hidden"),
        "input": {} if removed else dict(job.data.get("input", {})),
        "logs": "" if removed else _logs(job, status, now),
        "output": output,
        "data_removed": removed,
        "error": _error(job, status),
        "status": status.value,
        "source": "api",
        "created_at": iso(job.created_at),
        "started_at": iso(started),
        "completed_at": iso(done),
        "deadline": iso(deadline),
        "urls": urls,
        "metrics": metrics,
    }
