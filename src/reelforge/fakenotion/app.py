"""The Starlette app: outage, authentication, version check, rate limit and the request log around
every ``/v1`` handler, plus the ``/_fake`` control routes tests and demos drive."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reelforge.fakenotion.control import control_routes
from reelforge.fakenotion.errors import MISSING, NotionApiError
from reelforge.fakenotion.log import RequestRecord, token_hash
from reelforge.fakenotion.state import FakeNotionState

__all__ = ["create_app"]

_logger = logging.getLogger("reelforge.fakenotion")

Handler = Callable[[FakeNotionState, Request, Any], dict[str, Any]]
Endpoint = Callable[[Request], Awaitable[Response]]

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_OUTAGE_ERRORS = {
    503: ("service_unavailable", "Notion is unavailable, please try again later."),
    529: ("service_overload", "Notion is overloaded, please try again later."),
}


def _token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _check_version(state: FakeNotionState, request: Request) -> None:
    version = request.headers.get("notion-version")
    if version is None:
        raise NotionApiError(
            400,
            "missing_version",
            "Notion-Version header failed validation: Notion-Version header should be defined, "
            "instead was `undefined`.",
        )
    if version not in state.config.accepted_versions:
        raise NotionApiError(
            400,
            "validation_error",
            f"Provided API version {version} is not supported. "
            f"Supported versions: {', '.join(state.config.accepted_versions)}.",
        )


async def _json_body(request: Request) -> Any:
    if request.method not in ("POST", "PATCH"):
        return None
    raw = await request.body()
    if not raw.strip():
        return MISSING
    try:
        return json.loads(raw)
    except ValueError:
        raise NotionApiError(400, "invalid_json", "Error parsing JSON body.") from None


def _gate(state: FakeNotionState, request: Request, token: str | None) -> None:
    """Outage, authentication, version and rate limit, in Notion's order."""
    if state.outage is not None:
        code, message = _OUTAGE_ERRORS[state.outage]
        raise NotionApiError(state.outage, code, message)
    if token is None or (state.config.tokens and token not in state.config.tokens):
        raise NotionApiError(401, "unauthorized", "API token is invalid.")
    _check_version(state, request)
    wait = state.check_rate(token_hash(token))
    if wait is not None:
        raise NotionApiError(
            429,
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
            headers={"Retry-After": str(wait)},
        )


def _endpoint(state: FakeNotionState, handler: Handler) -> Endpoint:
    async def run(request: Request) -> Response:
        arrived = state.clock()
        wall = dt.datetime.now(dt.UTC).isoformat()
        request_id = str(uuid.uuid4())
        token = _token(request)
        code: str | None = None
        try:
            _gate(state, request, token)
            body = await _json_body(request)
            payload = handler(state, request, {} if body is MISSING else body)
            response: Response = JSONResponse(payload | {"request_id": request_id})
        except NotionApiError as exc:
            code = exc.code
            response = JSONResponse(
                exc.body(request_id), status_code=exc.status, headers=exc.headers
            )
        except Exception:
            _logger.exception("fake Notion handler failed on %s %s", request.method, request.url)
            code = "internal_server_error"
            error = NotionApiError(500, code, "Unexpected error occurred.")
            response = JSONResponse(error.body(request_id), status_code=500)
        response.headers["x-notion-request-id"] = request_id
        state.log.append(
            RequestRecord(
                monotonic=arrived,
                wall=wall,
                method=request.method,
                path=request.url.path,
                status=response.status_code,
                code=code,
                request_id=request_id,
                token_hash=token_hash(token) if token is not None else None,
            )
        )
        return response

    return run


def _retrieve_database(state: FakeNotionState, request: Request, _: Any) -> dict[str, Any]:
    return state.database_json(request.path_params["object_id"])


def _retrieve_source(state: FakeNotionState, request: Request, _: Any) -> dict[str, Any]:
    return state.data_source_json(request.path_params["object_id"])


def _update_source(state: FakeNotionState, request: Request, body: Any) -> dict[str, Any]:
    return state.update_data_source(request.path_params["object_id"], body)


def _query_source(state: FakeNotionState, request: Request, body: Any) -> dict[str, Any]:
    return state.query(request.path_params["object_id"], body)


def _create_page(state: FakeNotionState, _: Request, body: Any) -> dict[str, Any]:
    return state.create_page(body)


def _retrieve_page(state: FakeNotionState, request: Request, _: Any) -> dict[str, Any]:
    return state.page_json(request.path_params["object_id"])


def _update_page(state: FakeNotionState, request: Request, body: Any) -> dict[str, Any]:
    return state.update_page(request.path_params["object_id"], body)


def _invalid_url(_state: FakeNotionState, _request: Request, _body: Any) -> dict[str, Any]:
    raise NotionApiError(400, "invalid_request_url", "Invalid request URL.")


def create_app(state: FakeNotionState) -> Starlette:
    """The ASGI app serving ``state``: the ``/v1`` API and the ``/_fake`` control routes."""

    def ep(handler: Handler) -> Endpoint:
        return _endpoint(state, handler)

    routes = [
        Route("/v1/databases/{object_id}", ep(_retrieve_database), methods=["GET"]),
        Route("/v1/data_sources/{object_id}", ep(_retrieve_source), methods=["GET"]),
        Route("/v1/data_sources/{object_id}", ep(_update_source), methods=["PATCH"]),
        Route("/v1/data_sources/{object_id}/query", ep(_query_source), methods=["POST"]),
        Route("/v1/pages", ep(_create_page), methods=["POST"]),
        Route("/v1/pages/{object_id}", ep(_retrieve_page), methods=["GET"]),
        Route("/v1/pages/{object_id}", ep(_update_page), methods=["PATCH"]),
        *control_routes(state),
        Route("/v1/{path:path}", ep(_invalid_url), methods=_ALL_METHODS),
    ]
    return Starlette(routes=routes)
