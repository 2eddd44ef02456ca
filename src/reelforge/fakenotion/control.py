"""The ``/_fake`` control routes: no token, no rate limit, not logged, working during an outage.

* ``GET /_fake/log`` — ``{"requests": [...], "page_creates": n}``
* ``POST /_fake/reset`` — forget everything
* ``GET|POST /_fake/outage`` — ``{"status": 503 | 529 | null}``
* ``GET|POST /_fake/rate_limit`` — ``{"enabled", "requests_per_second", "burst"}``
* ``POST /_fake/databases`` — ``{"title", "properties", "data_source_name"?}`` →
  ``{"database_id", "data_source_id"}``
* ``POST /_fake/databases/{id}/data_sources`` — ``{"name", "properties"}`` →
  ``{"data_source_id"}``
* ``GET /_fake/data_sources/{id}/pages[?include_trashed=true]`` —
  ``{"object": "list", "results": [pages in Notion's shape]}``
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reelforge.fakenotion.errors import NotionApiError
from reelforge.fakenotion.state import OUTAGE_STATUSES, FakeNotionState

__all__ = ["control_routes"]

Control = Callable[[Request, Any], dict[str, Any]]


def _endpoint(control: Control) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            body: Any = {}
            if request.method == "POST":
                raw = await request.body()
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    raise NotionApiError(400, "invalid_json", "Error parsing JSON body.") from None
                if not isinstance(body, dict):
                    raise NotionApiError(400, "validation_error", "The body must be an object.")
            return JSONResponse(control(request, body))
        except NotionApiError as exc:
            return JSONResponse(exc.body(str(uuid.uuid4())), status_code=exc.status)

    return run


def control_routes(state: FakeNotionState) -> list[Route]:
    """The ``/_fake`` routes over ``state``."""

    def log(_: Request, _body: Any) -> dict[str, Any]:
        return {"requests": state.log.to_json(), "page_creates": state.log.page_creates()}

    def reset(_: Request, _body: Any) -> dict[str, Any]:
        state.reset()
        return {"reset": True}

    def outage(request: Request, body: Any) -> dict[str, Any]:
        if request.method == "POST":
            status = body.get("status")
            if status is not None and status not in OUTAGE_STATUSES:
                raise NotionApiError(400, "validation_error", "status must be 503, 529 or null.")
            state.set_outage(status)
        return {"status": state.outage}

    def rate_limit(request: Request, body: Any) -> dict[str, Any]:
        if request.method == "POST":
            try:
                state.configure_rate_limit(
                    enabled=body.get("enabled"),
                    requests_per_second=body.get("requests_per_second"),
                    burst=body.get("burst"),
                )
            except ValueError as exc:
                raise NotionApiError(400, "validation_error", str(exc)) from None
        return {
            "enabled": state.config.rate_limit,
            "requests_per_second": state.config.requests_per_second,
            "burst": state.config.burst,
        }

    def databases(_: Request, body: Any) -> dict[str, Any]:
        title = body.get("title", "Untitled")
        name = body.get("data_source_name")
        if not isinstance(title, str) or (name is not None and not isinstance(name, str)):
            raise NotionApiError(400, "validation_error", "title must be a string.")
        created = state.create_database(title, body.get("properties") or {}, data_source_name=name)
        return {"database_id": created.database_id, "data_source_id": created.data_source_id}

    def data_sources(request: Request, body: Any) -> dict[str, Any]:
        name = body.get("name", "Untitled")
        if not isinstance(name, str):
            raise NotionApiError(400, "validation_error", "name must be a string.")
        source_id = state.add_data_source(
            request.path_params["database_id"], body.get("properties") or {}, name=name
        )
        return {"data_source_id": source_id}

    def pages(request: Request, _body: Any) -> dict[str, Any]:
        trashed = request.query_params.get("include_trashed", "").lower() in ("1", "true", "yes")
        results = state.pages(request.path_params["data_source_id"], include_trashed=trashed)
        return {"object": "list", "results": results}

    return [
        Route("/_fake/log", _endpoint(log), methods=["GET"]),
        Route("/_fake/reset", _endpoint(reset), methods=["POST"]),
        Route("/_fake/outage", _endpoint(outage), methods=["GET", "POST"]),
        Route("/_fake/rate_limit", _endpoint(rate_limit), methods=["GET", "POST"]),
        Route("/_fake/databases", _endpoint(databases), methods=["POST"]),
        Route(
            "/_fake/databases/{database_id}/data_sources",
            _endpoint(data_sources),
            methods=["POST"],
        ),
        Route("/_fake/data_sources/{data_source_id}/pages", _endpoint(pages), methods=["GET"]),
    ]
