"""Wire details of fal's queue protocol: paths, credentials, error bodies and model output.

Two error styles, as fal answers them (``specs/live-providers.md`` section 1.5):

* request (infrastructure) errors: ``{"detail": "Request timed out", "error_type": "..."}``
  with the same type in ``X-Fal-Error-Type``;
* model (validation) errors: ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``, 422.

Every answer fal itself makes carries ``x-fal-request-id``. An injected 502, 503 or 504 is
answered the way fal's nginx ingress does: an HTML page without that header (the answer
fal_client resubmits a create after).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from reelforge.core.catalog import WireProblem
from reelforge.sim.log import api_key_id
from reelforge.sim.protocol import ApiError

__all__ = [
    "APP_NAMESPACES",
    "INFRA_ERRORS",
    "FalError",
    "ReadPath",
    "app_of",
    "authenticate",
    "content_policy",
    "fal_request_id",
    "parse_read_path",
    "render_error",
    "validation_error",
    "wire_problem",
]

APP_NAMESPACES = ("workflows", "comfy")
"""Namespaces whose apps keep three segments (``workflows/owner/app``)."""

INFRA_ERRORS: dict[str, tuple[int, str]] = {
    "request_timeout": (504, "Request timed out"),
    "startup_timeout": (504, "Application startup timed out"),
    "runner_scheduling_failure": (503, "Failed to schedule a runner for the request"),
    "runner_connection_timeout": (503, "Timed out connecting to the runner"),
    "runner_disconnected": (503, "Runner disconnected"),
    "runner_connection_refused": (503, "Runner refused the connection"),
}
"""fal's request-error types, their HTTP status and message (fal docs, request-errors)."""

CONTENT_POLICY_MESSAGE = (
    "The content could not be processed because it contained material flagged by a content checker."
)
CONTENT_POLICY_URL = "https://docs.fal.ai/errors#content_policy_violation"
CANCELED_MESSAGE = "Request was cancelled"
CANCELED_TYPE = "request_cancelled"
"""The simulator's word for a cancelled request (fal documents none; see docs/simulator.md)."""

_NO_KEY = "Authentication is required to access this endpoint."
_INGRESS_TITLES = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
_INGRESS_PAGE = (
    "<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass(kw_only=True)
class FalError(ApiError):
    """An error in fal's words: ``detail`` is a string or a list of pydantic-style problems."""

    detail: object = None
    error_type: str | None = None
    request_id: str | None = None
    """The ``x-fal-request-id`` to send (a fresh one when ``None``)."""

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail if self.detail is not None else self.message}
        if self.error_type is not None:
            body["error_type"] = self.error_type
        return body


@dataclass(frozen=True, slots=True)
class ReadPath:
    """A status, result or cancel path: the app it names, the request id and the operation."""

    app: str
    request_id: str
    operation: str
    """``status``, ``result`` or ``cancel``."""


def fal_request_id() -> str:
    """A fresh id for ``x-fal-request-id`` on answers that concern no request of ours."""
    return str(uuid.uuid4())


def app_of(endpoint_id: str) -> str:
    """The ``owner/app`` an endpoint id's status, result and cancel URLs use."""
    parts = endpoint_id.split("/")
    keep = 3 if parts[0] in APP_NAMESPACES else 2
    return "/".join(parts[:keep])


def _is_app(segments: list[str]) -> bool:
    if not all(segments):
        return False
    if len(segments) == 3:
        return segments[0] in APP_NAMESPACES
    return len(segments) == 2 and segments[0] not in APP_NAMESPACES


def parse_read_path(path: str, method: str) -> ReadPath | None:
    """The request a read or cancel path names; ``None`` when fal would answer 404 (the long
    ``owner/app/sub/path/requests/...`` form included)."""
    segments = path.strip("/").split("/")
    if "requests" not in segments:
        return None
    at = segments.index("requests")
    app, rest = segments[:at], segments[at + 1 :]
    if not _is_app(app) or not rest or not rest[0]:
        return None
    tail = rest[1:]
    if method == "GET" and not tail:
        operation = "result"
    elif method == "GET" and tail == ["status"]:
        operation = "status"
    elif method == "PUT" and tail == ["cancel"]:
        operation = "cancel"
    else:
        return None
    return ReadPath(app="/".join(app), request_id=rest[0], operation=operation)


def authenticate(request: Request) -> str:
    """``Authorization: Key <key>`` (fal keys are ``key_id:key_secret``); 401 otherwise."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "key" or not key.strip():
        raise FalError(status=401, message=_NO_KEY)
    return api_key_id(key.strip())


def validation_error(problems: list[dict[str, Any]]) -> FalError:
    """A 422 with fal's pydantic-style ``detail`` list."""
    first = problems[0]["msg"] if problems else "Invalid input"
    return FalError(status=422, message=str(first), detail=problems)


def content_policy(request_id: str | None = None) -> FalError:
    """The 422 a moderated request answers on its result."""
    problem = {
        "loc": ["body", "prompt"],
        "msg": CONTENT_POLICY_MESSAGE,
        "type": "content_policy_violation",
        "url": CONTENT_POLICY_URL,
        "ctx": {"categories": ["model_moderated"]},
    }
    error = validation_error([problem])
    error.request_id = request_id
    return error


def render_error(error: ApiError) -> Response:
    """Any error (a real one or an injected fault) in fal's words."""
    if isinstance(error, FalError):
        headers = dict(error.headers)
        if error.error_type is not None:
            headers["x-fal-error-type"] = error.error_type
        headers["x-fal-request-id"] = error.request_id or fal_request_id()
        return JSONResponse(error.body(), status_code=error.status, headers=headers)
    if error.status in _INGRESS_TITLES:
        # The ingress in front of fal: no x-fal-request-id, "nginx" in the body.
        page = _INGRESS_PAGE.format(status=error.status, title=_INGRESS_TITLES[error.status])
        return HTMLResponse(page, status_code=error.status)
    headers = {"x-fal-request-id": fal_request_id()}
    if error.status == 429:
        # One third party reports a small JSON body and no Retry-After: the stricter reading.
        return JSONResponse({"detail": "Too many requests"}, status_code=429, headers=headers)
    if error.status >= 500:
        return JSONResponse(
            {"detail": "Internal Server Error"}, status_code=error.status, headers=headers
        )
    return JSONResponse({"detail": error.message}, status_code=error.status, headers=headers)


def wire_problem(problem: WireProblem) -> dict[str, Any]:
    """One of the core catalog's problems as fal's (pydantic's) ``detail`` item."""
    item: dict[str, Any] = {"loc": ["body", problem.field]}
    if problem.kind == "missing":
        item.update(msg="Field required", type="missing")
    elif problem.allowed:
        expected = ", ".join(repr(value) for value in problem.allowed[:-1])
        expected = (
            f"{expected} or {problem.allowed[-1]!r}" if expected else repr(problem.allowed[0])
        )
        item.update(
            msg=f"Input should be {expected}", type="literal_error", ctx={"expected": expected}
        )
    elif problem.kind == "type_error":
        kind = "int_type" if "integer" in problem.message else "string_type"
        item.update(msg=f"Input should be a valid {kind.removesuffix('_type')}", type=kind)
    elif problem.field == "prompt":
        item.update(
            msg="String should have at least 1 character",
            type="string_too_short",
            ctx={"min_length": 1},
        )
    else:
        item.update(msg=f"Value error, {problem.message}", type="value_error")
    return item
