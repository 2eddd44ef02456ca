"""Wire details of Runway's tasks protocol: ids, the task object, signed output URLs and errors.

A Runway task is a :class:`~reelforge.sim.state.Job` with ``protocol="runway"``; what the
OpenAI shape has no room for lives in ``job.data``: the body as sent (``input``), the endpoint
(``route``) and ``pending_until``, the end of the ``PENDING`` phase. Between it and
``job.started_at`` the task is ``THROTTLED`` (it waited for a concurrency slot).

Output URLs carry a ``_jwt`` query, an HS256 token naming the task and an expiry, minted afresh
on every read of the task; the file route checks it (403 once expired, 401 when forged).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from starlette.responses import JSONResponse

from reelforge.core.models import RemoteState
from reelforge.sim.protocol import ApiError
from reelforge.sim.state import Job

__all__ = [
    "FILE_PREFIX",
    "GENERATION_FAILURE_CODE",
    "MODERATION_FAILURE_CODE",
    "RUNWAY_VERSION",
    "RunwayProblem",
    "TaskStatus",
    "TokenProblem",
    "check_token",
    "iso",
    "mint_token",
    "render_error",
    "task_id",
    "task_json",
    "task_status",
]

RUNWAY_VERSION = "2024-11-06"
"""The only ``X-Runway-Version`` the simulator (like the SDK it follows) speaks."""
FILE_PREFIX = "/_runway/outputs"
"""Where output files are served, without credentials (Runway's CloudFront)."""
MODERATION_FAILURE_CODE = "SAFETY.INPUT.TEXT"
"""Failure code of a task its prompt got refused for (the list is UNCONFIRMED)."""
GENERATION_FAILURE_CODE = "INTERNAL.BAD_OUTPUT.CODE01"
"""Failure code of a task whose generation failed (the list is UNCONFIRMED)."""
MODERATION_FAILURE = "The prompt was flagged by content moderation. Please revise it."
GENERATION_FAILURE = "An unexpected error occurred while generating the video."
_CREDITS_PER_SECOND = 10
"""A placeholder price in credits (Runway bills credits; the rate is not modelled)."""
_SERVER_MESSAGE = "An unexpected error occurred."


class TaskStatus(StrEnum):
    """A task's ``status`` on the wire."""

    PENDING = "PENDING"
    """Accepted, not started."""
    THROTTLED = "THROTTLED"
    """Waiting for one of the key's concurrency slots."""
    RUNNING = "RUNNING"
    """Generating; ``progress`` from 0 to 1."""
    SUCCEEDED = "SUCCEEDED"
    """Done; ``output`` holds the video's URL."""
    FAILED = "FAILED"
    """Ended without a video; ``failure`` and ``failureCode`` say why."""
    CANCELLED = "CANCELLED"
    """Canceled with ``DELETE`` before it finished."""


@dataclass(kw_only=True)
class RunwayProblem(ApiError):
    """An error answer in Runway's words: ``{"error": …}`` and, for a bad body, ``issues``."""

    issues: list[dict[str, Any]] = field(default_factory=list)


def task_id(bits: int) -> str:
    """Runway's id form: a version-4 UUID."""
    return str(uuid.UUID(int=bits, version=4))


def iso(timestamp: float) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as Runway writes times."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def task_status(job: Job, now: float) -> tuple[TaskStatus, float]:
    """The task's status and progress (0..1) at ``now``."""
    state, _ = job.status(now)
    if state is RemoteState.CANCELED:
        return TaskStatus.CANCELLED, 0.0
    if state is RemoteState.QUEUED:
        pending_until = float(job.data.get("pending_until", job.started_at))
        return (TaskStatus.PENDING if now < pending_until else TaskStatus.THROTTLED), 0.0
    if state is RemoteState.IN_PROGRESS:
        span = max(job.finished_at - job.started_at, 1e-9)
        fraction = (now - job.started_at) / span
        if job.fail_code is not None:
            fraction *= job.fail_progress / 100
        return TaskStatus.RUNNING, round(min(max(fraction, 0.0), 0.99), 4)
    if state is RemoteState.FAILED:
        return TaskStatus.FAILED, 0.0
    return TaskStatus.SUCCEEDED, 1.0


def task_json(job: Job, now: float, *, output_url: str | None) -> dict[str, Any]:
    """The task object at ``now``; ``output_url`` is the freshly signed URL of its video."""
    status, progress = task_status(job, now)
    body: dict[str, Any] = {"id": job.id, "createdAt": iso(job.created_at), "status": status.value}
    credits = _CREDITS_PER_SECOND * job.seconds
    if status in (TaskStatus.PENDING, TaskStatus.THROTTLED, TaskStatus.RUNNING):
        body["estimatedCost"] = {"credits": credits}
    if status is TaskStatus.RUNNING:
        body["progress"] = progress
    elif status is TaskStatus.SUCCEEDED:
        body["cost"] = {"credits": credits}
        body["output"] = [output_url] if output_url is not None else []
    elif status is TaskStatus.FAILED:
        moderated = job.fail_code == "moderation_blocked"
        body["cost"] = {"credits": 0}
        body["failure"] = MODERATION_FAILURE if moderated else GENERATION_FAILURE
        body["failureCode"] = MODERATION_FAILURE_CODE if moderated else GENERATION_FAILURE_CODE
    elif status is TaskStatus.CANCELLED:
        body["cost"] = {"credits": 0}
    return body


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(seed: int) -> bytes:
    return hashlib.sha256(f"reelforge-sim:{seed}:runway-outputs".encode()).digest()


def mint_token(seed: int, task: str, expires: float) -> str:
    """An HS256 JWT for ``task``'s output, valid until ``expires`` (Unix seconds)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"sub": task, "exp": round(expires, 3)}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signed = f"{header}.{payload}".encode("ascii")
    signature = _b64(hmac.new(_key(seed), signed, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


class TokenProblem(StrEnum):
    """Why an output URL's token is refused."""

    INVALID = "invalid"
    """Missing, malformed, forged or for another task: 401."""
    EXPIRED = "expired"
    """Genuine but past its expiry: 403."""


def check_token(seed: int, token: str | None, task: str, now: float) -> TokenProblem | None:
    """What is wrong with ``token`` for ``task`` at ``now``; ``None`` when it admits the file."""
    claims = _verified_claims(seed, token or "")
    if claims is None or claims.get("sub") != task:
        return TokenProblem.INVALID
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or now >= expires:
        return TokenProblem.EXPIRED
    return None


def _verified_claims(seed: int, token: str) -> dict[str, Any] | None:
    """The claims of a token this simulator signed; ``None`` for anything else."""
    parts = token.split(".")
    if len(parts) != 3:  # header.payload.signature
        return None
    header, payload, signature = parts
    expected = _b64(hmac.new(_key(seed), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return None
    try:
        claims = json.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def render_error(error: ApiError) -> JSONResponse:
    """``{"error": message}`` (plus ``issues`` for a body that failed validation)."""
    headers = dict(error.headers)
    message = error.message
    if error.status >= 500 and not isinstance(error, RunwayProblem):
        message = _SERVER_MESSAGE
        headers.pop("retry-after-ms", None)
    body: dict[str, Any] = {"error": message}
    if isinstance(error, RunwayProblem) and error.issues:
        body["issues"] = error.issues
    return JSONResponse(body, status_code=error.status, headers=headers)
