"""The dashboard's actions, as a JSON API (``POST``, protected against cross-site requests by
:class:`~reelforge.serve.auth.AccessMiddleware`):

- ``POST /api/jobs/{id}/review`` ``{"verdict": "approved" | "rejected", "note": "..."}``: a
  person's verdict on the clip, recorded as a ``review`` event (it reaches Notion and the
  webhooks like any other event); answers the review.
- ``POST /api/jobs/{id}/cancel``: as ``reelforge cancel JOB`` (a job created on the provider is
  checked there first, with the served engine's credentials for its account).
- ``POST /api/jobs/{id}/poke``: wakes the job's workflow (``reelforge poke``); 409 when it has
  none running.
- ``POST /api/batches/{id}/retry``: the batch's failed jobs back to the queue; the served engine
  runs them (without one, the next ``reelforge run`` of the batch does).

Bodies may also be HTML forms (with ``csrf_token``): then the answer is a redirect back to the
page the form was on. Errors are ``{"error": "..."}`` with 400, 404 or 409.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from reelforge.core.models import JobState
from reelforge.engine.control import CancelOutcome, cancel_jobs
from reelforge.providers.base import Provider
from reelforge.serve.state import ServeState
from reelforge.store import BatchNotFoundError, JobNotFoundError, JobRow, ReviewVerdict

__all__ = ["MAX_NOTE", "routes"]

MAX_NOTE = 2000
"""Characters a review's note may have."""
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

Handler = Callable[[ServeState, Request, dict[str, Any]], Awaitable[dict[str, Any]]]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _body(request: Request) -> tuple[dict[str, Any], bool]:
    """The request's fields, and whether it came from an HTML form."""
    if request.headers.get("content-type", "").startswith(_FORMS):
        async with request.form() as form:
            return {k: v for k, v in form.items() if isinstance(v, str)}, True
    raw = await request.body()
    if not raw.strip():
        return {}, False
    try:
        data = json.loads(raw)
    except ValueError:
        raise _Refused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise _Refused(400, "the body must be a JSON object")
    return data, False


def _job(state: ServeState, job_id: str) -> JobRow:
    try:
        return state.store.get_job(job_id)
    except JobNotFoundError:
        raise _Refused(404, f"no job {job_id!r}") from None


async def review(state: ServeState, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """Record a verdict on the job's clip."""
    job = await asyncio.to_thread(_job, state, request.path_params["job_id"])
    try:
        verdict = ReviewVerdict(str(body.get("verdict", "")).strip().lower())
    except ValueError:
        raise _Refused(400, "verdict must be 'approved' or 'rejected'") from None
    note = body.get("note") or ""
    if not isinstance(note, str):
        raise _Refused(400, "note must be text")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise _Refused(400, f"the note is longer than {MAX_NOTE} characters")
    if verdict is ReviewVerdict.REJECTED and not note:
        raise _Refused(400, "a rejection needs a note saying why")
    if job.state is not JobState.DONE:
        raise _Refused(409, f"job {job.id} is {job.state.value}: only a finished clip is reviewed")
    recorded = await asyncio.to_thread(state.store.record_review, job.id, verdict, note)
    return {
        "job_id": job.id,
        "review": {"verdict": recorded.verdict.value, "note": recorded.note, "at": recorded.at},
        "event_id": recorded.event_id,
    }


async def poke(state: ServeState, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """Wake the job's workflow."""
    job = await asyncio.to_thread(_job, state, request.path_params["job_id"])
    workflow_id = await state.wake(job.id)
    if workflow_id is None:
        raise _Refused(
            409, f"job {job.id} has no running workflow (it is {job.state.value}): nothing to wake"
        )
    return {"job_id": job.id, "workflow_id": workflow_id}


def _provider(account: str) -> Provider | None:
    """The served engine's adapter for ``account``, when an engine runs in this process."""
    from reelforge.engine import context  # noqa: PLC0415  # only the served process has one

    try:
        return context.current().providers.get(account)
    except RuntimeError:
        return None


async def cancel(state: ServeState, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """Cancel the job (as ``reelforge cancel``)."""
    job = await asyncio.to_thread(_job, state, request.path_params["job_id"])
    provider = _provider(job.account)
    [result] = await cancel_jobs(
        state.store,
        state.workflows(),
        [job],
        provider=provider,
        account=job.account if provider is not None else None,
    )
    if result.outcome in (CancelOutcome.REFUSED, CancelOutcome.COMPLETED):
        raise _Refused(409, f"job {job.id} was not canceled: {result.reason}")
    return {
        "job_id": job.id,
        "outcome": result.outcome.value,
        "state": result.job.state.value,
        "remote_deleted": result.remote_deleted,
        "remote_note": result.remote_note,
    }


async def retry(state: ServeState, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """Send the batch's failed jobs back to the queue."""
    batch_id = request.path_params["batch_id"]
    try:
        await asyncio.to_thread(state.store.get_batch, batch_id)
    except BatchNotFoundError:
        raise _Refused(404, f"no batch {batch_id!r}") from None
    if state.engine is not None:
        count = await state.engine.retry(batch_id)
        return {"batch_id": batch_id, "retried": count, "running": True}
    failed = await asyncio.to_thread(state.store.jobs, batch_id, [JobState.FAILED])
    count = 0
    for job in failed:
        if await asyncio.to_thread(state.store.retry, job.id):
            count += 1
    return {"batch_id": batch_id, "retried": count, "running": False}


def _endpoint(state: ServeState, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        form = False
        try:
            body, form = await _body(request)
            answer = await handler(state, request, body)
        except _Refused as refused:
            if form:
                return _back(request, error=refused.message)
            return JSONResponse({"error": refused.message}, status_code=refused.status)
        if form:
            return _back(request)
        return JSONResponse(answer)

    return endpoint


def _back(request: Request, *, error: str | None = None) -> Response:
    """Back to the page the form was posted from (same origin only), else to ``/``."""
    target = request.headers.get("referer", "/")
    base = str(request.base_url).rstrip("/")
    path = target[len(base) :] if target.startswith(base + "/") else "/"
    response = RedirectResponse(path, status_code=303)
    if error is not None:
        response.headers["x-reelforge-error"] = error[:200].encode("ascii", "replace").decode()
    return response


def routes(state: ServeState) -> list[Route]:
    """The action routes (all ``POST``)."""
    table: list[tuple[str, Handler]] = [
        ("/api/jobs/{job_id}/review", review),
        ("/api/jobs/{job_id}/cancel", cancel),
        ("/api/jobs/{job_id}/poke", poke),
        ("/api/batches/{batch_id}/retry", retry),
    ]
    return [
        Route(path, _endpoint(state, handler), methods=["POST"], name=f"action:{handler.__name__}")
        for path, handler in table
    ]
