"""Replicate's wire format: the prediction object read into a :class:`RemoteStatus`, list pages,
RFC 7807 error bodies and the ``Cancel-After`` duration.

Everything here reads what a server sent, redacted, and trusts none of it: a field of the
wrong type is a :class:`ProtocolError` naming the field, never a crash; an unknown status word
is a running job whose ``provider_status`` keeps the word.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from reelforge.core.errors import (
    AssetExpiredError,
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
    "OUTPUT_LIFETIME",
    "PROVIDER",
    "ListPage",
    "Prediction",
    "cancel_after_header",
    "parse_list",
    "parse_prediction",
    "problem_reader",
]

PROVIDER = "replicate"
OUTPUT_LIFETIME = 3600.0
"""Seconds Replicate keeps an API prediction's files after it completes (about an hour)."""
MIN_CANCEL_AFTER = 5
"""Replicate refuses a ``Cancel-After`` under five seconds."""
REMOVED_MESSAGE = (
    "the output files were removed by Replicate before they were downloaded "
    "(Replicate deletes an API prediction's files about an hour after it completes)"
)

_STATES = {
    "starting": RemoteState.QUEUED,
    "processing": RemoteState.IN_PROGRESS,
    "succeeded": RemoteState.COMPLETED,
    "failed": RemoteState.FAILED,
    "canceled": RemoteState.CANCELED,
    "aborted": RemoteState.FAILED,
}
_POLICY_RE = re.compile(r"sensitive|nsfw|\bE005\b|safety|content polic|moderat", re.IGNORECASE)
_ERROR_CODE_RE = re.compile(r"\((E\d{3,5})\)")
_PERCENT_RE = re.compile(r"(\d{1,3})%")
_FRACTION_RE = re.compile(r"(\.\d{6})\d+")
_VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".m4v")
_MAX_TEXT = 2000


@dataclass(frozen=True, kw_only=True, slots=True)
class Prediction:
    """A prediction read off the wire: its normalized status and its output file URL."""

    status: RemoteStatus
    output_url: str | None
    data_removed: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class ListPage:
    """One page of ``GET /v1/predictions``."""

    items: tuple[Prediction, ...]
    next_url: str | None


def cancel_after_header(seconds: float) -> str:
    """``seconds`` in Replicate's duration form (``45s``, ``1m30s``, ``2h``), rounded up, at
    least five seconds."""
    if not math.isfinite(seconds):
        raise ValueError("cancel_after must be a finite number of seconds")
    total = max(MIN_CANCEL_AFTER, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s"))]
    return "".join(part for part in parts if not part.startswith("0"))


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
        parsed = datetime.fromisoformat(_FRACTION_RE.sub(r"\1", text.strip()))
    except ValueError:
        raise ProtocolError(f"{what}: {key!r} is not an ISO 8601 time", provider=PROVIDER) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _output_url(output: object, what: str) -> str | None:
    """The video's URL: the output string, or the first video (else first URL) of a list."""
    candidates = output if isinstance(output, list) else [output]
    urls = [item for item in candidates if isinstance(item, str)]
    if output is not None and not urls:
        raise ProtocolError(f"{what}: the output holds no URL", provider=PROVIDER)
    videos = [url for url in urls if url.lower().split("?")[0].endswith(_VIDEO_SUFFIXES)]
    chosen = (videos or urls)[0] if urls else None
    if chosen is not None and httpx.URL(chosen).scheme not in ("http", "https"):
        raise ProtocolError(f"{what}: the output is not an http(s) URL", provider=PROVIDER)
    return chosen


def _failure(error: str | None, word: str, deadline_hit: bool) -> RemoteError:
    if word == "aborted":
        return RemoteError(
            category=ErrorCategory.TIMEOUT,
            message="its Cancel-After deadline passed before it started (Replicate does not "
            "charge for it)",
            code="aborted",
        )
    if word == "canceled" and deadline_hit:
        return RemoteError(
            category=ErrorCategory.TIMEOUT,
            message="Replicate stopped it at its Cancel-After deadline while it ran",
            code="deadline",
        )
    message = error or "the prediction failed without an error message"
    match = _ERROR_CODE_RE.search(message)
    category = (
        ErrorCategory.CONTENT_POLICY
        if _POLICY_RE.search(message)
        else ErrorCategory.GENERATION_FAILED
    )
    return RemoteError(category=category, message=message, code=match.group(1) if match else None)


def _progress(state: RemoteState, logs: str | None) -> int:
    if state is RemoteState.COMPLETED:
        return 100
    if state is not RemoteState.IN_PROGRESS or not logs:
        return 0
    found = _PERCENT_RE.findall(logs[-_MAX_TEXT:])
    return min(int(found[-1]), 99) if found else 0


def parse_prediction(data: object, headers: httpx.Headers | None = None) -> Prediction:
    """A prediction object (from create, get, cancel, a list page or a webhook)."""
    obj = _object(data, "the prediction")
    remote_id = check_id(obj.get("id"), what="prediction id")
    what = f"prediction {remote_id}"
    word = _text(obj, "status", what)
    if word is None:
        raise ProtocolError(f"{what}: no status", provider=PROVIDER)
    removed = obj.get("data_removed") is True
    started_at = _time(obj, "started_at", what)
    completed_at = _time(obj, "completed_at", what)
    deadline = _time(obj, "deadline", what)
    state = _STATES.get(word)
    if state is None:  # a word this adapter does not know: still running, as far as it can tell
        state = RemoteState.IN_PROGRESS if started_at is not None else RemoteState.QUEUED
    raw_input = obj.get("input")
    model_input = dict(raw_input) if isinstance(raw_input, dict) else None
    output_url = _output_url(obj.get("output"), what)
    deadline_hit = deadline is not None and completed_at is not None and completed_at >= deadline
    error: RemoteError | None = None
    expires_at: float | None = None
    if word == "aborted" or (word == "canceled" and deadline_hit):
        state = RemoteState.FAILED
        error = _failure(None, word, deadline_hit)
    elif state is RemoteState.FAILED:
        error = _failure(_text(obj, "error", what), word, deadline_hit)
    elif state is RemoteState.COMPLETED:
        if removed or output_url is None:
            state = RemoteState.EXPIRED
            error = RemoteError(category=ErrorCategory.EXPIRED, message=REMOVED_MESSAGE)
            output_url = None
        elif completed_at is not None:
            expires_at = completed_at + OUTPUT_LIFETIME
    prompt = model_input.get("prompt") if model_input else None
    seconds = model_input.get("duration") if model_input else None
    status = RemoteStatus(
        remote_id=remote_id,
        state=state,
        progress=_progress(state, _text(obj, "logs", what)),
        model=_text(obj, "model", what),
        seconds=seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else None,
        prompt=prompt if isinstance(prompt, str) else None,
        created_at=_time(obj, "created_at", what),
        completed_at=completed_at,
        expires_at=expires_at,
        error=error,
        request_id=request_id_of(headers) if headers is not None else None,
        provider_status=word[:64],
        input=model_input,
    )
    return Prediction(status=status, output_url=output_url, data_removed=removed)


def parse_list(data: object, headers: httpx.Headers) -> ListPage:
    """A page of ``GET /v1/predictions``: ``results`` and the ``next`` URL."""
    obj = _object(data, "the prediction list")
    results = obj.get("results")
    if not isinstance(results, list):
        raise ProtocolError("the prediction list has no 'results' array", provider=PROVIDER)
    next_url = _text(obj, "next", "the prediction list")
    return ListPage(
        items=tuple(parse_prediction(item) for item in results), next_url=next_url or None
    )


def _problem(body: bytes | None) -> tuple[str | None, str | None]:
    """``(detail, field)`` of a problem-details body (``detail`` else ``title``)."""
    if not body:
        return None, None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        text = body.decode("utf-8", "replace").strip()
        return (text or None), None
    if not isinstance(data, dict):
        return None, None
    detail = data.get("detail") if isinstance(data.get("detail"), str) else None
    title = data.get("title") if isinstance(data.get("title"), str) else None
    field = None
    invalid = data.get("invalid_fields")
    if isinstance(invalid, list) and invalid and isinstance(invalid[0], dict):
        name = invalid[0].get("field")
        field = name if isinstance(name, str) else None
    return (detail or title), field


def _reset_seconds(headers: httpx.Headers) -> float | None:
    raw = headers.get("ratelimit-reset")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None


def problem_reader(site: Site) -> ErrorReader:
    """The session's error reader for Replicate's RFC 7807 bodies (and its 429 ``detail``)."""

    def read(
        call: Call,
        status: int,
        headers: httpx.Headers,
        body: bytes | None,
        *,
        retry_after: float | None,
    ) -> ReelforgeError:
        detail, field = _problem(body)
        shown = site.clean(" ".join(detail.split())) if detail else None
        message = f"{call.label} failed: {shown or f'HTTP {status} without a message'}"
        fields: dict[str, Any] = {
            "provider": PROVIDER,
            "status_code": status,
            "request_id": request_id_of(headers),
        }
        if call.endpoint is Endpoint.CONTENT and status == 410:
            return AssetExpiredError(f"{message}; {REMOVED_MESSAGE}")
        cls: type[ProviderError]
        if status in (401, 403):
            cls = AuthError
        elif status in (404, 410):
            cls = NotFoundError
        elif status == 429:
            wait = retry_after if retry_after is not None else _reset_seconds(headers)
            return RateLimitedError(message, retry_after=wait, **fields)
        elif status == 408 or status >= 500:
            return TransientError(message, retry_after=retry_after, **fields)
        elif 400 <= status < 500:
            cls = InvalidRequestError
            fields["param"] = site.clean(field, limit=128) if field else None
        else:
            return ProtocolError(f"{message}; unexpected HTTP status {status}", **fields)
        return cls(message, **fields)

    return read
