"""Runway's wire shapes: the create answer, the task object and the error bodies.

The task is discriminated by ``status``: ``PENDING`` and ``THROTTLED`` (created, waiting for
one of the account's concurrency slots) are queued, ``RUNNING`` carries ``progress`` from 0 to 1,
``SUCCEEDED`` an ``output`` list of signed URLs that expire (reading the task again gives fresh
ones), ``FAILED`` a ``failure`` message and a ``failureCode``, ``CANCELLED`` nothing more. A
status word this module does not know is a task still running: ``provider_status`` keeps it.

Errors are ``{"error": "…"}``, with ``issues`` (``path``, ``message``) for a body that failed
validation. On the file host (CloudFront), a 401 or 403 means the output URL's ``_jwt`` expired
or was refused: :class:`OutputUrlRefusedError`, which the adapter answers by reading the task
for a fresh URL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from reelforge.core.errors import (
    AuthError,
    ErrorCategory,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    ReelforgeError,
    TransientError,
)
from reelforge.core.models import RemoteError, RemoteState, RemoteStatus
from reelforge.providers._errors import Endpoint, Site
from reelforge.providers._http import Call, ErrorReader
from reelforge.providers._wire import check_id, request_id_of

__all__ = [
    "PROVIDER",
    "RUNWAY_VERSION",
    "OutputUrlRefusedError",
    "Task",
    "error_reader",
    "failure_category",
    "parse_created",
    "parse_task",
]

PROVIDER = "runway"
RUNWAY_VERSION = "2024-11-06"
"""The API version every request names in ``X-Runway-Version`` (required by Runway)."""

_STATES = {
    "PENDING": RemoteState.QUEUED,
    "THROTTLED": RemoteState.QUEUED,
    "RUNNING": RemoteState.IN_PROGRESS,
    "SUCCEEDED": RemoteState.COMPLETED,
    "FAILED": RemoteState.FAILED,
    "CANCELLED": RemoteState.CANCELED,
}
_POLICY_MARKS = ("SAFETY", "MODERATION", "CONTENT_POLICY")
_MAX_TEXT = 2000
_MAX_STATUS = 64
_NO_OUTPUT = "the task succeeded but lists no output URL"


class OutputUrlRefusedError(ProviderError):
    """The file host refused an output URL (401/403): its signature expired or is no longer
    accepted. Reading the task again gives a fresh URL."""

    category = ErrorCategory.DOWNLOAD


@dataclass(frozen=True, kw_only=True, slots=True)
class Task:
    """A task as read: its normalized status and its video's (signed, expiring) URL."""

    status: RemoteStatus
    output_url: str | None


def _object(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError(f"{what} is not a JSON object", provider=PROVIDER)
    return data


def _text(obj: Mapping[str, Any], key: str, what: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"{what}: {key!r} is not a string", provider=PROVIDER)
    return value[:_MAX_TEXT]


def _time(obj: Mapping[str, Any], key: str, what: str) -> float | None:
    text = _text(obj, key, what)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ProtocolError(f"{what}: {key!r} is not an ISO 8601 time", provider=PROVIDER) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _progress(value: object) -> int:
    """Runway's 0..1 float as a percentage, never 100 before the task succeeds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return min(max(round(value * 100), 0), 99)


def _output_url(output: object, what: str) -> str | None:
    """The first output URL (the video); it must be an ``http(s)`` URL."""
    if output is None:
        return None
    if not isinstance(output, list):
        raise ProtocolError(f"{what}: 'output' is not a list", provider=PROVIDER)
    if not output:
        return None
    first = output[0]
    if not isinstance(first, str):
        raise ProtocolError(f"{what}: the output URL is not a string", provider=PROVIDER)
    try:
        scheme, host = httpx.URL(first).scheme, httpx.URL(first).host
    except httpx.InvalidURL:
        scheme, host = "", ""
    if scheme not in ("http", "https") or not host:
        raise ProtocolError(f"{what}: the output is not an http(s) URL", provider=PROVIDER)
    return first


def failure_category(code: str | None) -> ErrorCategory:
    """Content policy for Runway's safety and moderation codes (``SAFETY.INPUT.TEXT``…),
    else generation failed."""
    upper = (code or "").upper()
    if any(mark in upper for mark in _POLICY_MARKS):
        return ErrorCategory.CONTENT_POLICY
    return ErrorCategory.GENERATION_FAILED


def parse_created(data: object, headers: httpx.Headers | None = None) -> str:
    """The task id of a create's answer ``{"id": "<uuid>"}``."""
    obj = _object(data, "the created task")
    return check_id(obj.get("id"), what="task id")


def parse_task(data: object, headers: httpx.Headers | None = None) -> Task:
    """A task object from ``GET /v1/tasks/{id}``."""
    obj = _object(data, "the task")
    remote_id = check_id(obj.get("id"), what="task id")
    what = f"task {remote_id}"
    word = _text(obj, "status", what)
    if word is None:
        raise ProtocolError(f"{what}: no status", provider=PROVIDER)
    state = _STATES.get(word, RemoteState.IN_PROGRESS)
    progress = _progress(obj.get("progress")) if state is RemoteState.IN_PROGRESS else 0
    error: RemoteError | None = None
    output_url: str | None = None
    if state is RemoteState.COMPLETED:
        progress = 100
        output_url = _output_url(obj.get("output"), what)
        if output_url is None:
            state = RemoteState.EXPIRED
            error = RemoteError(category=ErrorCategory.EXPIRED, message=_NO_OUTPUT)
    elif state is RemoteState.FAILED:
        code = _text(obj, "failureCode", what)
        message = _text(obj, "failure", what) or "the task failed without a reason"
        error = RemoteError(
            category=failure_category(code), message=message, code=code[:128] if code else None
        )
    status = RemoteStatus(
        remote_id=remote_id,
        state=state,
        progress=progress,
        created_at=_time(obj, "createdAt", what),
        error=error,
        request_id=request_id_of(headers) if headers is not None else None,
        provider_status=word[:_MAX_STATUS],
    )
    return Task(status=status, output_url=output_url)


def _error_body(body: bytes | None) -> tuple[str | None, str | None]:
    """``(message, field)`` of an error body: ``error`` and the first issue's path."""
    if not body:
        return None, None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        text = body.decode("utf-8", "replace").strip()
        return (text or None), None
    if not isinstance(data, dict):
        return None, None
    message = data.get("error") if isinstance(data.get("error"), str) else None
    field = None
    issues = data.get("issues")
    if isinstance(issues, list) and issues and isinstance(issues[0], dict):
        path = issues[0].get("path")
        if isinstance(path, list) and path and isinstance(path[0], str):
            field = path[0]
        detail = issues[0].get("message")
        if message and isinstance(detail, str):
            message = f"{message}: {field + ' ' if field else ''}{detail}"
    return message, field


def error_reader(site: Site) -> ErrorReader:
    """The session's error reader for Runway's ``{"error": …}`` bodies and the file host."""

    def read(
        call: Call,
        status: int,
        headers: httpx.Headers,
        body: bytes | None,
        *,
        retry_after: float | None,
    ) -> ReelforgeError:
        detail, field = _error_body(body)
        shown = site.clean(" ".join(detail.split())) if detail else None
        message = f"{call.label} failed: {shown or f'HTTP {status} without a message'}"
        fields: dict[str, Any] = {
            "provider": PROVIDER,
            "status_code": status,
            "request_id": request_id_of(headers),
        }
        if call.endpoint is Endpoint.CONTENT and status in (401, 403):
            return OutputUrlRefusedError(f"{message}; the output URL expired", **fields)
        cls: type[ProviderError]
        if status in (401, 403):
            cls = AuthError
        elif status in (404, 410):
            cls = NotFoundError
        elif status == 429:
            return RateLimitedError(message, retry_after=retry_after, **fields)
        elif status == 408 or status >= 500:
            return TransientError(message, retry_after=retry_after, **fields)
        elif 400 <= status < 500:
            cls = InvalidRequestError
            fields["param"] = site.clean(field, limit=128) if field else None
        else:
            return ProtocolError(f"{message}; unexpected HTTP status {status}", **fields)
        return cls(message, **fields)

    return read
