"""The JSON API under ``/api/`` (read-only; the dashboard's actions add their own routes).

==========================================  =================================================
``GET /api/session``                        the CSRF token for POSTs (``X-CSRF-Token``)
``GET /api/batches``                        every batch: counts, cost vs budget, providers, ETA
``GET /api/batches/{id}``                   one batch
``GET /api/batches/{id}/jobs``              its jobs; ``?state=`` and ``?provider=`` filter
``GET /api/jobs/{id}``                      one job: spec, history, files, request ids
``GET /api/events?after=N&limit=M``         outbox events after the cursor ``N``, and ``next``
==========================================  =================================================

An unknown id is a 404 naming it; a bad query parameter a 400 naming the parameter and the
values it takes. Every error is ``{"error": "..."}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from reelforge.core.models import JobState
from reelforge.providers.registry import known_providers
from reelforge.serve.auth import CSRF_FIELD, CSRF_HEADER, csrf_token
from reelforge.serve.state import ServeState
from reelforge.serve.views import batch_view, event_view, job_summary, job_view
from reelforge.store import BatchNotFoundError, JobNotFoundError, Store

__all__ = ["error", "not_found", "routes"]

_MAX_LIMIT = 1000
_DEFAULT_LIMIT = 100
_SHOWN_ID = 200
"""Characters of an unknown id quoted back in a 404."""


def error(status: int, message: str) -> JSONResponse:
    """An error answer: ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status)


def _quoted(identifier: str) -> str:
    shown = identifier if len(identifier) <= _SHOWN_ID else identifier[:_SHOWN_ID] + "…"
    return repr(shown)


async def not_found(request: Request) -> JSONResponse:
    """Any other path under ``/api/``."""
    return error(404, f"no such API path: {_quoted(request.url.path)}")


class _BadParam(Exception):
    def __init__(self, field: str, value: str, allowed: str) -> None:
        super().__init__(f"bad {field} {_quoted(value)}: {allowed}")


def _choices(request: Request, field: str, allowed: tuple[str, ...]) -> set[str] | None:
    """The values of a repeatable (or comma-separated) filter, each one of ``allowed``."""
    raw = request.query_params.getlist(field)
    if not raw:
        return None
    values = {v.strip() for item in raw for v in item.split(",") if v.strip()}
    for value in sorted(values):
        if value not in allowed:
            raise _BadParam(field, value, f"one of {', '.join(allowed)}")
    return values


def _integer(request: Request, field: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(field)
    if raw is None:
        return default
    allowed = f"an integer from {low}" + (f" to {high}" if high is not None else " up")
    try:
        value = int(raw)
    except ValueError:
        raise _BadParam(field, raw, allowed) from None
    if value < low or (high is not None and value > high):
        raise _BadParam(field, raw, allowed)
    return value


def routes(state: ServeState) -> list[BaseRoute]:
    """The API's routes, reading ``state.store``."""
    store = state.store

    async def answer(request: Request, read: Callable[[Request, Store], Any]) -> JSONResponse:
        try:
            body = await asyncio.to_thread(read, request, store)
        except BatchNotFoundError:
            return error(404, f"no batch {_quoted(request.path_params.get('batch_id', ''))}")
        except JobNotFoundError:
            return error(404, f"no job {_quoted(request.path_params.get('job_id', ''))}")
        except _BadParam as exc:
            return error(400, str(exc))
        return JSONResponse(body)

    def batches(request: Request, store: Store) -> dict[str, Any]:
        now = store.now()
        return {"batches": [batch_view(store, row, now=now) for row in store.batches()]}

    def batch(request: Request, store: Store) -> dict[str, Any]:
        row = store.get_batch(request.path_params["batch_id"])
        return batch_view(store, row, now=store.now())

    def batch_jobs(request: Request, store: Store) -> dict[str, Any]:
        states = _choices(request, "state", tuple(s.value for s in JobState))
        providers = _choices(request, "provider", known_providers())
        row = store.get_batch(request.path_params["batch_id"])
        jobs = store.jobs(row.id, states=[JobState(s) for s in states] if states else None)
        if providers is not None:
            jobs = [job for job in jobs if job.provider in providers]
        return {"batch": row.id, "jobs": [job_summary(job) for job in jobs]}

    def job(request: Request, store: Store) -> dict[str, Any]:
        return job_view(store, store.get_job(request.path_params["job_id"]))

    def events(request: Request, store: Store) -> dict[str, Any]:
        after = _integer(request, "after", 0, 0, None)
        limit = _integer(request, "limit", _DEFAULT_LIMIT, 1, _MAX_LIMIT)
        found = store.events_after(after, limit=limit)
        return {
            "events": [event_view(event) for event in found],
            "next": found[-1].id if found else after,
        }

    async def session(request: Request) -> JSONResponse:
        return JSONResponse(
            {"csrf_token": csrf_token(request), "header": CSRF_HEADER, "field": CSRF_FIELD},
            headers={"cache-control": "no-store"},
        )

    def endpoint(read: Callable[[Request, Store], Any]) -> Callable[[Request], Any]:
        async def handle(request: Request) -> JSONResponse:
            return await answer(request, read)

        return handle

    return [
        Route("/api/session", session, methods=["GET"]),
        Route("/api/batches", endpoint(batches), methods=["GET"]),
        Route("/api/batches/{batch_id}", endpoint(batch), methods=["GET"]),
        Route("/api/batches/{batch_id}/jobs", endpoint(batch_jobs), methods=["GET"]),
        Route("/api/jobs/{job_id}", endpoint(job), methods=["GET"]),
        Route("/api/events", endpoint(events), methods=["GET"]),
    ]
