"""Vertex AI's Veo wire format, read defensively: operation names, operations and Google's
error bodies.

The parsers get data the session already redacted (the access token replaced). An operation's
inline video (``bytesBase64Encoded``) never reaches them: :mod:`._vertex_stream` takes it out of
the body as it streams and leaves an empty string in its place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
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
from reelforge.providers._errors import Site
from reelforge.providers._http import Call, ErrorReader
from reelforge.providers._wire import request_id_of

__all__ = [
    "PROVIDER",
    "Operation",
    "OperationName",
    "error_reader",
    "gcs_parts",
    "parse_name",
    "parse_operation",
]

PROVIDER = "vertex"
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_NAME_RE = re.compile(
    rf"projects/({_SEGMENT})/locations/({_SEGMENT})/publishers/google/models/({_SEGMENT})"
    rf"/operations/({_SEGMENT})",
    re.ASCII,
)
_GCS_RE = re.compile(r"gs://([a-z0-9][a-z0-9._-]{1,220})/([^\x00-\x1f\x7f]{1,1024})", re.ASCII)
_MAX_TEXT = 2000
_MAX_REASONS = 8
_INVALID_ARGUMENT = 3
_RESOURCE_EXHAUSTED = 8
_HTTP_TOO_MANY = 429


@dataclass(frozen=True, kw_only=True, slots=True)
class OperationName:
    """The parts of ``projects/{p}/locations/{l}/publishers/google/models/{m}/operations/{id}``."""

    name: str
    project: str
    location: str
    model: str
    operation: str

    @property
    def model_path(self) -> str:
        """The model's resource path: what ``:fetchPredictOperation`` is called on."""
        return self.name.rpartition("/operations/")[0]


def parse_name(value: object) -> OperationName | None:
    """The parts of an operation name; ``None`` when ``value`` is not one."""
    if not isinstance(value, str):
        return None
    match = _NAME_RE.fullmatch(value)
    if match is None:
        return None
    project, location, model, operation = match.groups()
    return OperationName(
        name=value, project=project, location=location, model=model, operation=operation
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Operation:
    """A ``google.longrunning.Operation`` as reelforge reads it."""

    status: RemoteStatus
    gcs_uri: str | None = None
    """Where the finished video is (``gs://bucket/object``), when written to Cloud Storage."""
    inline: bool = False
    """Whether the finished video came inline (``bytesBase64Encoded``)."""
    mime_type: str | None = None


def _text(value: object) -> str:
    return " ".join(str(value).split())[:_MAX_TEXT] if value is not None else ""


def _failure_category(code: object) -> ErrorCategory:
    if code == _INVALID_ARGUMENT:
        return ErrorCategory.INVALID_REQUEST
    if code in (_RESOURCE_EXHAUSTED, _HTTP_TOO_MANY):
        return ErrorCategory.RATE_LIMITED
    return ErrorCategory.GENERATION_FAILED


def parse_operation(data: object, headers: httpx.Headers | None = None) -> Operation:
    """The operation in ``data`` (a decoded fetch answer); :class:`ProtocolError` when it is
    not one."""
    if not isinstance(data, dict):
        raise ProtocolError("the operation is not a JSON object", provider=PROVIDER)
    name = parse_name(data.get("name"))
    if name is None:
        raise ProtocolError("the operation has no valid name", provider=PROVIDER)
    request_id = request_id_of(headers) if headers is not None else None
    done = data.get("done", False)
    if not isinstance(done, bool):
        raise ProtocolError("the operation's done is not a boolean", provider=PROVIDER)
    base: dict[str, Any] = {"remote_id": name.name, "model": name.model, "request_id": request_id}
    if not done:
        status = RemoteStatus(state=RemoteState.IN_PROGRESS, provider_status="running", **base)
        return Operation(status=status)
    error = data.get("error")
    if error is not None:
        return _failed(error, base)
    response = data.get("response")
    if not isinstance(response, dict):
        raise ProtocolError("a done operation has neither response nor error", provider=PROVIDER)
    return _finished(response, base)


def _failed(error: object, base: dict[str, Any]) -> Operation:
    if not isinstance(error, dict):
        raise ProtocolError("the operation's error is not an object", provider=PROVIDER)
    code = error.get("code")
    message = _text(error.get("message")) or "Vertex gave no reason for the failure"
    failure = RemoteError(
        category=_failure_category(code),
        message=message,
        code=str(code)[:32] if code is not None else None,
    )
    status = RemoteStatus(state=RemoteState.FAILED, provider_status="error", error=failure, **base)
    return Operation(status=status)


def _filtered(response: dict[str, Any], filtered: int, base: dict[str, Any]) -> Operation:
    reasons = response.get("raiMediaFilteredReasons") or []
    shown = [_text(r) for r in reasons[:_MAX_REASONS]] if isinstance(reasons, list) else []
    if filtered > 0:
        message = "Vertex's safety filter removed the video"
        message += f": {'; '.join(shown)}" if shown else ""
        failure = RemoteError(
            category=ErrorCategory.CONTENT_POLICY, message=message, code="rai_media_filtered"
        )
    else:
        failure = RemoteError(
            category=ErrorCategory.GENERATION_FAILED,
            message="the operation finished without a video",
        )
    status = RemoteStatus(
        state=RemoteState.FAILED, provider_status="filtered", error=failure, **base
    )
    return Operation(status=status)


def _finished(response: dict[str, Any], base: dict[str, Any]) -> Operation:
    filtered = response.get("raiMediaFilteredCount", 0)
    if not isinstance(filtered, int) or isinstance(filtered, bool) or filtered < 0:
        raise ProtocolError("raiMediaFilteredCount is not a count", provider=PROVIDER)
    videos = response.get("videos") or []
    if not isinstance(videos, list):
        raise ProtocolError("the response's videos is not a list", provider=PROVIDER)
    if filtered > 0 or not videos:
        return _filtered(response, filtered, base)
    video = videos[0]
    if not isinstance(video, dict):
        raise ProtocolError("the response's video is not an object", provider=PROVIDER)
    mime = video.get("mimeType")
    mime_type = mime if isinstance(mime, str) and len(mime) < 128 else None
    status = RemoteStatus(state=RemoteState.COMPLETED, provider_status="done", progress=100, **base)
    uri = video.get("gcsUri")
    if uri is not None:
        if not isinstance(uri, str) or _GCS_RE.fullmatch(uri) is None:
            raise ProtocolError("the video's gcsUri is not a gs:// URI", provider=PROVIDER)
        return Operation(status=status, gcs_uri=uri, mime_type=mime_type)
    if "bytesBase64Encoded" not in video:
        raise ProtocolError(
            "the video has neither gcsUri nor bytesBase64Encoded", provider=PROVIDER
        )
    return Operation(status=status, inline=True, mime_type=mime_type)


def gcs_parts(uri: str) -> tuple[str, str]:
    """``(bucket, object)`` of a checked ``gs://`` URI."""
    match = _GCS_RE.fullmatch(uri)
    if match is None:
        raise ProtocolError("not a gs:// URI", provider=PROVIDER)
    return match.group(1), match.group(2)


def _google_error(body: bytes | None) -> tuple[str | None, str | None]:
    """``(message, status word)`` of a Google error body (or an OAuth one)."""
    if not body:
        return None, None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _text(body.decode("utf-8", "replace"))[:300] or None, None
    if not isinstance(data, dict):
        return None, None
    error = data.get("error")
    if isinstance(error, dict):
        status = error.get("status")
        return _text(error.get("message")) or None, status if isinstance(status, str) else None
    if isinstance(error, str):
        return _text(data.get("error_description") or error) or None, None
    return None, None


def error_reader(site: Site) -> ErrorReader:
    """The session's error reader for Google's ``{"error": {code, message, status}}`` bodies."""

    def read(
        call: Call,
        status: int,
        headers: httpx.Headers,
        body: bytes | None,
        *,
        retry_after: float | None,
    ) -> ReelforgeError:
        detail, word = _google_error(body)
        shown = site.clean(detail) if detail else f"HTTP {status} without a message"
        message = f"{call.label} failed: {shown}"
        fields: dict[str, Any] = {
            "provider": PROVIDER,
            "status_code": status,
            "request_id": request_id_of(headers),
            "code": site.clean(word, limit=64) if word else None,
        }
        cls: type[ProviderError]
        if status in (401, 403):
            cls = AuthError
        elif status == 404:
            cls = NotFoundError
        elif status == 429:
            return RateLimitedError(message, retry_after=retry_after, **fields)
        elif status == 408 or status >= 500:
            return TransientError(message, retry_after=retry_after, **fields)
        elif 400 <= status < 500:
            cls = InvalidRequestError
        else:
            return ProtocolError(f"{message}; unexpected HTTP status {status}", **fields)
        return cls(message, **fields)

    return read
