"""fal's queue protocol on the wire: remote ids, the URLs a submit returns, status bodies and
error bodies, read as untrusted input.

A job's remote id is ``<owner>/<app>/requests/<request_id>`` (``workflows/<owner>/<app>/...``
for the namespaced apps): the part of the ``response_url`` fal returned after the base URL.
Every segment is checked against a small alphabet before a URL is built from it, so an id read
back from the database (or sent by a hostile server) can never make a path of its own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

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
from reelforge.providers._errors import Endpoint, Site, VideoNotReadyError
from reelforge.providers._http import Call

__all__ = [
    "PROVIDER",
    "FalErrorReader",
    "FalIds",
    "endpoint_problem",
    "fal_request_id",
    "parse_output_url",
    "parse_remote_id",
    "parse_status",
    "parse_submit",
]

PROVIDER = "fal"
APP_NAMESPACES = ("workflows", "comfy")
_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", re.ASCII)
_MAX_ENDPOINT = 300
_MAX_DETAIL_ITEMS = 3
_IN_PROGRESS_RE = re.compile(r"\bin progress\b|\bin queue\b|\bnot (yet )?(ready|completed)\b", re.I)

_TIMEOUT_TYPES = frozenset({"request_timeout", "startup_timeout"})
_CANCELED_TYPES = frozenset({"request_cancelled", "request_canceled", "cancelled", "canceled"})
_CONTENT_POLICY = "content_policy_violation"


@dataclass(frozen=True, slots=True)
class FalIds:
    """A request's app (``owner/app``) and request id, from a checked remote id."""

    app: str
    request_id: str

    @property
    def remote_id(self) -> str:
        """``owner/app/requests/<request_id>``."""
        return f"{self.app}/requests/{self.request_id}"

    def path(self, operation: str = "") -> str:
        """The path of the request's result (``""``), ``status`` or ``cancel``."""
        root = f"/{self.remote_id}"
        return f"{root}/{operation}" if operation else root


def _segments_ok(segments: list[str]) -> bool:
    return all(_SEGMENT_RE.fullmatch(segment) for segment in segments)


def _is_app(app: str) -> bool:
    segments = app.split("/")
    if len(segments) == 3:
        return segments[0] in APP_NAMESPACES and _segments_ok(segments)
    return len(segments) == 2 and segments[0] not in APP_NAMESPACES and _segments_ok(segments)


def _remote_id_problem(remote_id: object) -> str | None:
    if not isinstance(remote_id, str):
        return f"it is a {type(remote_id).__name__}, not a string"
    if len(remote_id) > _MAX_ENDPOINT + 140:
        return f"it is {len(remote_id)} characters long"
    app, sep, request_id = remote_id.rpartition("/requests/")
    if not sep:
        return "it is not <owner>/<app>/requests/<request id>"
    if not _is_app(app):
        return "its app is not <owner>/<app> of letters, digits, '.', '_' and '-'"
    if _REQUEST_ID_RE.fullmatch(request_id) is None:
        return "its request id is not letters, digits, '_' and '-'"
    return None


def parse_remote_id(remote_id: object) -> FalIds:
    """The app and request id of a remote id; :class:`ProtocolError` (``invalid_request``,
    nothing sent) saying what is wrong, without repeating the id."""
    problem = _remote_id_problem(remote_id)
    if problem is not None:
        raise ProtocolError(
            f"not a valid fal request id: {problem}; nothing was sent",
            provider=PROVIDER,
            category=ErrorCategory.INVALID_REQUEST,
        )
    assert isinstance(remote_id, str)
    app, _, request_id = remote_id.rpartition("/requests/")
    return FalIds(app=app, request_id=request_id)


def endpoint_problem(endpoint_id: str) -> str | None:
    """Why ``endpoint_id`` cannot be a submit path (``None`` when it can)."""
    if len(endpoint_id) > _MAX_ENDPOINT:
        return f"it is {len(endpoint_id)} characters long"
    segments = endpoint_id.split("/")
    least = 3 if segments[0] in APP_NAMESPACES else 2
    if len(segments) < least or not _segments_ok(segments):
        return (
            "a fal endpoint id is <owner>/<app>[/<path>] of letters, digits, '.', '_' and '-' "
            "(e.g. fal-ai/veo3.1/fast)"
        )
    return None


def fal_request_id(headers: httpx.Headers) -> str | None:
    """fal's ``x-fal-request-id``, if it is a plain id."""
    raw: str | None = headers.get("x-fal-request-id")
    if raw is not None and _REQUEST_ID_RE.fullmatch(raw):
        return raw
    return None


def _object(data: object, what: str) -> dict[str, object]:
    if not isinstance(data, dict):
        raise ProtocolError(f"{what}: the answer is not a JSON object", provider=PROVIDER)
    return data


def parse_submit(
    data: object, *, site_url: str, same_origin: bool, endpoint_id: str
) -> tuple[FalIds, int | None]:
    """The request a submit answer names, checked against where it may point.

    The ``response_url`` must be on the base URL's own origin (``same_origin`` says so for
    all three) and under its path, naming an app the endpoint id starts with; the
    ``status_url`` and ``cancel_url`` must be that URL plus ``/status`` and ``/cancel``. The
    remote id is taken from it; nothing else of the URLs is ever used."""
    body = _object(data, "submit")
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or _REQUEST_ID_RE.fullmatch(request_id) is None:
        raise ProtocolError("submit: the answer has no usable request_id", provider=PROVIDER)
    urls = {name: body.get(name) for name in ("response_url", "status_url", "cancel_url")}
    if not all(isinstance(url, str) for url in urls.values()):
        raise ProtocolError("submit: the answer lacks its request URLs", provider=PROVIDER)
    if not same_origin:
        raise ProtocolError(
            "submit: the answer's request URLs point to another host than the base URL",
            provider=PROVIDER,
        )
    try:
        paths = {name: httpx.URL(str(url)).path for name, url in urls.items()}
    except httpx.InvalidURL:
        raise ProtocolError("submit: a request URL is not a URL", provider=PROVIDER) from None
    base_path = httpx.URL(site_url).path.rstrip("/")
    response_path = paths["response_url"]
    if not response_path.startswith(base_path + "/"):
        raise ProtocolError("submit: the response_url is not under the base URL", provider=PROVIDER)
    remote_id = response_path[len(base_path) + 1 :]
    if _remote_id_problem(remote_id) is not None:
        raise ProtocolError(
            "submit: the response_url is not <owner>/<app>/requests/<id>", provider=PROVIDER
        )
    ids = parse_remote_id(remote_id)
    if ids.request_id != request_id or not (
        endpoint_id == ids.app or endpoint_id.startswith(ids.app + "/")
    ):
        raise ProtocolError(
            "submit: the response_url names another request or app", provider=PROVIDER
        )
    if paths["status_url"] != response_path + "/status" or (
        paths["cancel_url"] != response_path + "/cancel"
    ):
        raise ProtocolError(
            "submit: the status_url or cancel_url does not match the response_url",
            provider=PROVIDER,
        )
    position = body.get("queue_position")
    return ids, position if isinstance(position, int) and not isinstance(position, bool) else None


def queued_label(position: int | None) -> str:
    """``IN_QUEUE (position 3)``."""
    return "IN_QUEUE" if position is None else f"IN_QUEUE (position {position})"


def _failure(message: str, error_type: str | None) -> tuple[RemoteState, RemoteError]:
    """What a ``COMPLETED`` status with an ``error`` means."""
    if error_type in _CANCELED_TYPES:
        return RemoteState.CANCELED, RemoteError(
            category=ErrorCategory.GENERATION_FAILED, message=message, code=error_type
        )
    if error_type == _CONTENT_POLICY:
        category = ErrorCategory.CONTENT_POLICY
    elif error_type in _TIMEOUT_TYPES:
        category = ErrorCategory.TIMEOUT
    else:
        # runner_* and anything else: the request ended without a video. fal bills no
        # infrastructure failure; a new submission may well succeed, but it is a new job.
        category = ErrorCategory.GENERATION_FAILED
    return RemoteState.FAILED, RemoteError(category=category, message=message, code=error_type)


def parse_status(data: object, headers: httpx.Headers, ids: FalIds, clean: Clean) -> RemoteStatus:
    """A status answer, normalized. An unknown ``status`` keeps the job running (shown as
    fal sent it) rather than ending it on a word reelforge does not know."""
    body = _object(data, "status")
    raw = body.get("status")
    if not isinstance(raw, str):
        raise ProtocolError("status: the answer has no status", provider=PROVIDER)
    shown = clean(raw)
    request_id = fal_request_id(headers)

    def make(
        state: RemoteState, label: str, *, progress: int = 0, error: RemoteError | None = None
    ) -> RemoteStatus:
        return RemoteStatus(
            remote_id=ids.remote_id,
            state=state,
            progress=progress,
            error=error,
            request_id=request_id,
            provider_status=label,
        )

    if raw == "IN_QUEUE":
        position = body.get("queue_position")
        place = position if isinstance(position, int) and not isinstance(position, bool) else None
        return make(RemoteState.QUEUED, queued_label(place))
    if raw == "COMPLETED":
        error = body.get("error")
        error_type = body.get("error_type")
        kind = clean(error_type) if isinstance(error_type, str) else None
        if error is None and kind is None:
            return make(RemoteState.COMPLETED, raw, progress=100)
        message = clean(str(error)) if error is not None else f"the request failed ({kind})"
        state, failure = _failure(message, kind)
        return make(state, f"COMPLETED ({kind or 'error'})", error=failure)
    if raw in ("FAILED", "ERROR"):  # a third party lists these; fal's own clients do not
        failure = RemoteError(category=ErrorCategory.GENERATION_FAILED, message=f"fal: {shown}")
        return make(RemoteState.FAILED, shown, error=failure)
    if raw in ("CANCELED", "CANCELLED"):
        return make(RemoteState.CANCELED, shown)
    return make(RemoteState.IN_PROGRESS, shown, progress=_logged_progress(body.get("logs")))


_PERCENT_RE = re.compile(r"(?<![\d.])(\d{1,3})(?:\.\d+)?\s?%")
_LOG_LINES_READ = 50


def _logged_progress(logs: object) -> int:
    """The progress the latest log lines state (``Generating: 40%``), 0 when none does; fal
    has no progress field, and an unfinished request is never shown as 100."""
    if not isinstance(logs, list):
        return 0
    for entry in reversed(logs[-_LOG_LINES_READ:]):
        message = entry.get("message") if isinstance(entry, dict) else None
        if not isinstance(message, str):
            continue
        found = _PERCENT_RE.findall(message[:500])
        if found:
            return max(0, min(int(found[-1]), 99))
    return 0


def parse_output_url(data: object) -> str:
    """The ``video.url`` of a model output (an absolute ``http(s)`` URL)."""
    body = _object(data, "result")
    video = body.get("video")
    url = video.get("url") if isinstance(video, dict) else None
    if not isinstance(url, str):
        raise ProtocolError("result: the output has no video.url", provider=PROVIDER)
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ProtocolError("result: the video.url is not an http(s) URL", provider=PROVIDER)
    return url


class Clean:
    """Makes server text safe for a message (the site's redaction and length limit)."""

    def __init__(self, site: Site) -> None:
        self._site = site

    def __call__(self, text: str, limit: int = 300) -> str:
        return self._site.clean(text, limit=limit)


def _detail_text(detail: object, clean: Clean) -> str | None:
    """fal's ``detail``: a string, or a list of pydantic problems (``loc``, ``msg``)."""
    if isinstance(detail, str):
        return clean(detail)
    if not isinstance(detail, list):
        return None
    parts = []
    for item in detail[:_MAX_DETAIL_ITEMS]:
        if not isinstance(item, dict):
            continue
        loc = item.get("loc")
        where = ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
        msg = str(item.get("msg", ""))
        parts.append(clean(f"{where}: {msg}" if where else msg))
    if len(detail) > _MAX_DETAIL_ITEMS:
        parts.append(f"and {len(detail) - _MAX_DETAIL_ITEMS} more")
    return "; ".join(parts) or None


def _detail_types(detail: object) -> set[str]:
    if not isinstance(detail, list):
        return set()
    return {str(item.get("type")) for item in detail if isinstance(item, dict)}


def _decode(body: bytes | None) -> dict[str, object] | None:
    if not body:
        return None
    try:
        data = json.loads(body.decode("utf-8", errors="replace"))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


class FalErrorReader:
    """fal's error answers as reelforge errors (both styles, the cancel words, nginx pages)."""

    def __init__(self, site: Site) -> None:
        self._clean = Clean(site)

    def __call__(  # noqa: PLR0911, PLR0912  # one branch per kind of answer
        self,
        call: Call,
        status: int,
        headers: httpx.Headers,
        body: bytes | None,
        *,
        retry_after: float | None,
    ) -> ReelforgeError:
        clean = self._clean
        data = _decode(body)
        request_id = fal_request_id(headers)
        detail = data.get("detail") if data is not None else None
        error_type = data.get("error_type") if data is not None else None
        if not isinstance(error_type, str):
            error_type = headers.get("x-fal-error-type")
        kind = clean(error_type, 60) if error_type else None
        word = data.get("status") if data is not None else None
        text = _detail_text(detail, clean)
        if text is None and isinstance(word, str):
            text = clean(word)
        if text is None:
            text = f"HTTP {status}"
        message = f"{call.label}: {text}"

        def make(
            cls: type[ProviderError],
            text: str = message,
            *,
            code: str | None = kind,
            category: ErrorCategory | None = None,
        ) -> ProviderError:
            return cls(
                text,
                provider=PROVIDER,
                status_code=status,
                request_id=request_id,
                code=code,
                category=category,
                retry_after=retry_after if status in (429, 503) else None,
            )

        if status in (502, 503, 504) and "x-fal-request-id" not in headers:
            ingress = f"{call.label}: fal's gateway answered {status} (an ingress page, not fal's)"
            return make(TransientError, ingress)
        if status in (401, 403):
            return make(AuthError, f"{message} (check FAL_KEY)", category=ErrorCategory.AUTH)
        if status == 429:
            return make(RateLimitedError)
        if status == 404:
            code = "not_found" if word == "NOT_FOUND" else kind
            return make(NotFoundError, code=code, category=ErrorCategory.NOT_FOUND)
        if call.endpoint is Endpoint.CONTENT and kind is not None and request_id is not None:
            # A finished request's result answering its failure: final, not a server hiccup.
            failed = f"{message} (the request failed on fal: there is no video)"
            return make(NotFoundError, failed, category=ErrorCategory.GENERATION_FAILED)
        if status >= 500 or status == 408:
            return make(TransientError)
        if word == "ALREADY_COMPLETED":
            return make(InvalidRequestError, code="already_completed")
        if call.endpoint is Endpoint.CONTENT and status == 400 and _IN_PROGRESS_RE.search(text):
            return make(VideoNotReadyError)
        if _CONTENT_POLICY in _detail_types(detail):
            return make(
                InvalidRequestError, code=_CONTENT_POLICY, category=ErrorCategory.CONTENT_POLICY
            )
        if status in (400, 409, 422):
            return make(InvalidRequestError)
        return make(ProviderError, category=ErrorCategory.PROTOCOL)
