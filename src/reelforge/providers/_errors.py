"""HTTP error responses of the OpenAI Videos protocol, translated into reelforge errors.

The server's text is untrusted. The session hands over headers and a body with the API key
already removed (see :mod:`reelforge.providers._redact`); the text is then decoded leniently,
redacted again (escapes can hide the key from the raw bytes), stripped of control characters
and shortened before it reaches any message.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from enum import Enum

import httpx

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    AssetExpiredError,
    AuthError,
    EndpointGoneError,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    ReelforgeError,
    TransientError,
    UnsupportedOperationError,
)
from reelforge.providers._redact import Redactor, clean_text
from reelforge.providers._wire import request_id_of

__all__ = [
    "AmbiguousProtocolError",
    "Endpoint",
    "Envelope",
    "OptionalOperation",
    "Site",
    "VideoNotReadyError",
    "error_for_response",
    "read_envelope",
]

SHUTDOWN_NOTE = "OpenAI's hosted Videos API was shut down on 2026-09-24"
BASE_URL_HINT = (
    "point --base-url (or OPENAI_BASE_URL) at a gateway that serves the OpenAI Videos protocol"
)
_OPENAI_HOSTS = frozenset({"api.openai.com"})
_MODEL_GONE_RE = re.compile(
    r"\bmodel\b.{0,200}\b(does not exist|doesn't exist|not found|not supported|unsupported|"
    r"not available|unavailable|is unknown|not served)\b"
    r"|\b(invalid|unknown|unsupported) model\b",
    re.IGNORECASE | re.DOTALL,
)
_MAX_MESSAGE = 500
_MAX_PLAIN_ERROR = 2000
"""Characters kept of an error body that is not JSON (after redaction)."""
_MAX_UNWRAP = 4
"""Gateways nested in gateways: at most this many error envelopes are unwrapped."""
_MAX_CANDIDATES = 8
"""Objects tried inside one message (each try reads the rest of it: bounded work)."""
_MAX_UNSUPPORTED_DETAIL = 200
_EXCEPTION_PREFIX_RE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception)\s*[:-]\s*)+")
"""``litellm.BadRequestError: `` and the like, dropped from an unsupported operation's reason."""


class AmbiguousProtocolError(AmbiguousSubmissionError, ProtocolError):
    """A create answered with success but an unreadable body: the job may exist, id unknown.

    Both an :class:`AmbiguousSubmissionError` (so the engine reconciles instead of retrying)
    and a :class:`ProtocolError` (the answer broke the protocol).
    """


class VideoNotReadyError(NotFoundError):
    """404 on a content download because the job has not completed yet."""


class Endpoint(Enum):
    """Which kind of path a request addressed; 404s mean different things on each."""

    COLLECTION = "collection"
    """``/videos`` itself: create and list."""
    ITEM = "item"
    """``/videos/{id}`` and its remix."""
    CONTENT = "content"
    """``/videos/{id}/content``."""


@dataclass(frozen=True, slots=True)
class Site:
    """The base URL an adapter talks to, and the secret its messages must never show."""

    base_url: str
    secret: str | None = field(repr=False)
    redactor: Redactor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "redactor", Redactor(self.secret))

    @property
    def display_url(self) -> str:
        """The base URL without credentials, query or fragment, for messages."""
        url = httpx.URL(self.base_url)
        return str(url.copy_with(username=None, password=None, query=None, fragment=None))

    @property
    def is_openai(self) -> bool:
        """Whether this is OpenAI's own (shut down) API."""
        return httpx.URL(self.base_url).host in _OPENAI_HOSTS

    def clean(self, text: str, *, limit: int = _MAX_MESSAGE) -> str:
        """``text`` made safe for a message: no secret, no control characters, not too long."""
        return clean_text(text, limit=limit, redactor=self.redactor)


@dataclass(frozen=True, kw_only=True, slots=True)
class OptionalOperation:
    """An operation of the protocol that an endpoint may not offer (gateways often do not):
    an answer with one of ``statuses`` means "not offered here", not a failure to retry."""

    operation: str
    """The name :class:`UnsupportedOperationError` carries: ``list``, ``delete``,
    ``variant:thumbnail``…"""
    action: str
    """What could not be done, for the message: ``"list videos"``."""
    statuses: frozenset[int]


@dataclass(frozen=True, kw_only=True, slots=True)
class Envelope:
    """The fields of an error body; ``structured`` is False for a body that is not JSON.

    ``wrapped`` is True when the fields are an upstream server's, found inside a gateway's
    error message (see :func:`read_envelope`)."""

    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: str | None = None
    structured: bool = False
    wrapped: bool = False


def read_envelope(body: bytes | None, redactor: Redactor | None = None) -> Envelope:
    """Parse ``{"error": {...}}`` (or the common ``{"error": "..."}`` / ``{"detail": ...}``).

    A gateway passes its upstream's error on as text inside its own ``error.message``: LiteLLM
    writes ``litellm.BadRequestError: OpenAIException - `` and the upstream's whole JSON error
    object, then a note about its model group, and sets ``param`` to null and ``code`` to the
    HTTP status. When the message holds such an error object (as JSON, or as the Python repr
    some gateways print), the upstream's message, type, param and code are returned instead
    (``wrapped``): they say what was wrong, the gateway's own fields do not.

    ``redactor`` removes the secret from a plain-text body before it is shortened, and from
    the decoded JSON (escapes can hide it from a redaction of the raw bytes).
    """
    if not body:
        return Envelope()
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        text = body.decode("utf-8", errors="replace")
        if redactor is not None:
            text = redactor.text(text)
        text = " ".join(text.split())[:_MAX_PLAIN_ERROR]
        return Envelope(message=text or None)
    if redactor is not None:
        data = redactor.json(data)
    if not isinstance(data, dict):
        return Envelope()
    error = data.get("error")
    if isinstance(error, dict):
        envelope = Envelope(
            message=_field(error.get("message")),
            type=_field(error.get("type")),
            param=_field(error.get("param")),
            code=_field(error.get("code")),
            structured=True,
        )
    else:
        envelope = Envelope(structured=True)
        for key in ("error", "detail", "message"):
            if isinstance(data.get(key), str):
                envelope = Envelope(message=_field(data[key]), structured=True)
                break
    return _unwrapped(envelope, redactor)


def _field(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def _unwrapped(envelope: Envelope, redactor: Redactor | None) -> Envelope:
    """The innermost error envelope found in ``envelope.message`` (itself if none is)."""
    for _ in range(_MAX_UNWRAP):
        inner = _embedded_error(envelope.message or "")
        if inner is None:
            break
        if redactor is not None:
            redactor.json(inner)  # rebuilds the object in place
        message = _field(inner.get("message"))
        if not message:
            break
        envelope = Envelope(
            message=message,
            type=_field(inner.get("type")) or envelope.type,
            param=_field(inner.get("param")),
            code=_field(inner.get("code")),
            structured=True,
            wrapped=True,
        )
    return envelope


def _embedded_error(text: str) -> dict[str, object] | None:
    """The first ``{"error": {...}}`` object written inside ``text`` (JSON or a Python repr),
    or a bare ``{"message": ...}`` one; ``None`` if there is none."""
    start = text.find("{")
    for _ in range(_MAX_CANDIDATES):
        if start == -1:
            return None
        end = _closing_brace(text, start)
        if end is None:
            return None
        candidate = _literal(text[start : end + 1])
        if isinstance(candidate, dict):
            error = candidate.get("error", candidate)
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return error
        start = text.find("{", start + 1)
    return None


def _closing_brace(text: str, start: int) -> int | None:
    """The index of the ``}`` that closes the ``{`` at ``start`` (quotes respected)."""
    depth = 0
    quote: str | None = None
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index
    return None


def _literal(text: str) -> object:
    """``text`` read as JSON, else as a Python literal (a repr); ``None`` if it is neither."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def error_for_response(
    status: int,
    headers: httpx.Headers,
    body: bytes | None,
    *,
    site: Site,
    endpoint: Endpoint,
    label: str,
    retry_after: float | None,
    model: str | None = None,
    optional: OptionalOperation | None = None,
) -> ReelforgeError:
    """The error a non-success answer means (not raised: the caller decides on retries).

    ``headers`` and ``body`` come redacted from the session; every piece of server text is
    cleaned again on its way into a message. When the call is an ``optional`` operation and the
    status is one of its statuses, the answer is :class:`UnsupportedOperationError` (never
    retried), unless it says more: the whole API gone (:class:`EndpointGoneError`), the video
    not ready or expired.
    """
    envelope = read_envelope(body, site.redactor)
    server_text = site.clean(envelope.message) if envelope.message else None
    detail = server_text or f"the server sent no error message (HTTP {status})"
    fields = _Fields(
        status_code=status,
        request_id=request_id_of(headers),
        code=site.clean(envelope.code, limit=128) if envelope.code else None,
        param=site.clean(envelope.param, limit=128) if envelope.param else None,
    )
    model_gone = status in (400, 404, 422) and _model_gone(envelope)
    if model_gone and optional is None:
        return fields.make(EndpointGoneError, _model_gone_message(site, model, detail))
    if _endpoint_gone(status, envelope, site, endpoint):
        where = f"{site.display_url}/videos"
        note = f"; {SHUTDOWN_NOTE}" if site.is_openai else ""
        message = (
            f"{label} failed: {where} does not serve the OpenAI Videos API "
            f"(HTTP {status}){note}; {BASE_URL_HINT}"
        )
        return fields.make(EndpointGoneError, message)
    content = _content_error(status, envelope, detail, fields, endpoint, label)
    if content is not None:
        return content
    if optional is not None and status in optional.statuses:
        return _unsupported(optional, status, server_text, site, fields)
    if model_gone:
        return fields.make(EndpointGoneError, _model_gone_message(site, model, detail))
    message = f"{label} failed: {detail}"
    return _by_status(status, message, fields, retry_after)


def _content_error(
    status: int,
    envelope: Envelope,
    detail: str,
    fields: _Fields,
    endpoint: Endpoint,
    label: str,
) -> ReelforgeError | None:
    """What a 404/410 on a download says about the video: not ready yet, or expired."""
    if endpoint is not Endpoint.CONTENT or status not in (404, 410):
        return None
    lowered = (envelope.message or "").lower()
    if "not ready" in lowered or envelope.code == "video_not_ready":
        return fields.make(
            VideoNotReadyError,
            f"{label} failed: the video is not ready yet; wait until its status is "
            f"completed ({detail})",
        )
    if "expire" in lowered or status == 410:
        return AssetExpiredError(f"{label} failed: the asset has expired ({detail})")
    return None


def _unsupported(
    optional: OptionalOperation,
    status: int,
    server_text: str | None,
    site: Site,
    fields: _Fields,
) -> UnsupportedOperationError:
    """The error for an operation the endpoint does not offer: "the endpoint at <url> cannot
    list videos (HTTP 400: LLM Provider NOT provided...)"."""
    reason = _EXCEPTION_PREFIX_RE.sub("", server_text or "").strip()
    if len(reason) > _MAX_UNSUPPORTED_DETAIL:
        reason = reason[: _MAX_UNSUPPORTED_DETAIL - 3] + "..."
    answer = f"HTTP {status}: {reason}" if reason else f"HTTP {status}"
    return UnsupportedOperationError(
        f"the endpoint at {site.display_url} cannot {optional.action} ({answer})",
        operation=optional.operation,
        status_code=fields.status_code,
        request_id=fields.request_id,
        code=fields.code,
        param=fields.param,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class _Fields:
    status_code: int
    request_id: str | None
    code: str | None
    param: str | None

    def make(
        self, cls: type[ProviderError], message: str, retry_after: float | None = None
    ) -> ProviderError:
        return cls(
            message,
            status_code=self.status_code,
            request_id=self.request_id,
            code=self.code,
            param=self.param,
            retry_after=retry_after,
        )


def _by_status(
    status: int, message: str, fields: _Fields, retry_after: float | None
) -> ProviderError:
    if status in (401, 403):
        return fields.make(AuthError, message)
    if status in (404, 410):
        return fields.make(NotFoundError, message)
    if status == 429:
        return fields.make(RateLimitedError, message, retry_after)
    if status == 408 or status >= 500:
        return fields.make(TransientError, message, retry_after)
    if 400 <= status < 500:
        return fields.make(InvalidRequestError, message)
    return fields.make(ProtocolError, f"{message}; unexpected HTTP status {status}")


def _model_gone(envelope: Envelope) -> bool:
    if envelope.code == "model_not_found":
        return True
    return bool(envelope.message and _MODEL_GONE_RE.search(envelope.message))


def _model_gone_message(site: Site, model: str | None, detail: str) -> str:
    name = repr(site.clean(model, limit=100)) if model else "the requested model"
    note = f" ({SHUTDOWN_NOTE})" if site.is_openai else ""
    return f"model {name} is not served at {site.display_url}{note}: {detail}; {BASE_URL_HINT}"


def _endpoint_gone(status: int, envelope: Envelope, site: Site, endpoint: Endpoint) -> bool:
    """A 404/410 that means the whole API is missing, not one video.

    On ``/videos`` itself: always at OpenAI's host (shut down), else when the answer is 410 or
    has no JSON error envelope (a generic web server's 404 page). Elsewhere: only a bare 404
    from OpenAI's host.
    """
    if status not in (404, 410):
        return False
    if endpoint is Endpoint.COLLECTION:
        return site.is_openai or status == 410 or not envelope.structured
    return site.is_openai and not envelope.structured
