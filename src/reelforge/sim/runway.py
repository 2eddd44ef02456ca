"""The simulator's Runway tasks protocol (``/v1/text_to_video``, ``/v1/image_to_video``,
``/v1/tasks/{id}``).

Tasks are jobs of the shared store (``protocol="runway"``), so they share the clock, the
in-flight fault, the injected faults, the create log and the media with the other protocols.
Every request needs ``Authorization: Bearer`` and ``X-Runway-Version: 2024-11-06``. A key runs
at most ``runway.concurrency`` tasks at once: a task created beyond that is ``THROTTLED`` until
a slot frees. Wire shapes live in :mod:`reelforge.sim.runway_wire`. See ``docs/simulator.md``
(Runway tasks protocol).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from reelforge.core.capabilities import ModelCapabilities, capabilities_for
from reelforge.core.catalog import dimensions, wire_problems
from reelforge.core.models import Variant
from reelforge.sim.content import content_response
from reelforge.sim.log import api_key_id
from reelforge.sim.protocol import ApiError
from reelforge.sim.routing import Endpoint, Handler, Wrap
from reelforge.sim.runway_wire import (
    FILE_PREFIX,
    RUNWAY_VERSION,
    RunwayProblem,
    TaskStatus,
    TokenProblem,
    check_token,
    mint_token,
    render_error,
    task_id,
    task_json,
    task_status,
)
from reelforge.sim.state import Job
from reelforge.sim.videos import Ctx, new_job

if TYPE_CHECKING:
    from reelforge.sim.simulator import Simulator

__all__ = ["routes"]

PROTOCOL = "runway"
_TEXT = "text_to_video"
_IMAGE = "image_to_video"
_IMAGE_PREFIXES = ("https://", "http://", "data:image/")


def _authenticate(request: Request) -> str:
    """``Authorization: Bearer <key>``, then ``X-Runway-Version`` (required, one value)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise RunwayProblem(status=401, message="An API key is required to use this endpoint.")
    version = request.headers.get("x-runway-version")
    if version is None:
        raise RunwayProblem(
            status=400,
            message="The X-Runway-Version header is required. Set it to 2024-11-06.",
        )
    if version.strip() != RUNWAY_VERSION:
        raise RunwayProblem(
            status=400,
            message=f"API version {version.strip()[:40]!r} is not supported. "
            f"Set X-Runway-Version to {RUNWAY_VERSION}.",
        )
    return api_key_id(key.strip())


def _not_found() -> RunwayProblem:
    return RunwayProblem(status=404, message="Task not found.")


def _task(ctx: Ctx) -> Job:
    job = ctx.sim.store.get(str(ctx.request.path_params["task_id"]), ctx.api_key_id)
    if job is None or job.protocol != PROTOCOL:
        raise _not_found()
    return job


def _invalid(issues: list[dict[str, Any]]) -> RunwayProblem:
    return RunwayProblem(status=400, message="Validation of body failed", issues=issues)


def _issue(path: str, message: str, code: str = "invalid_value") -> dict[str, Any]:
    return {"code": code, "path": [path], "message": message}


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunwayProblem(status=400, message="The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise _invalid([_issue("body", "Expected an object", "invalid_type")])
    return data


def _check(route: str, body: Mapping[str, Any]) -> ModelCapabilities:
    """The model's capabilities when ``body`` is a valid create for ``route``; else a 400
    naming every problem (Runway's ``issues``)."""
    model = body.get("model")
    caps = capabilities_for(model, PROTOCOL) if isinstance(model, str) else None
    if caps is None or not caps.known:
        raise _invalid([_issue("model", f"Invalid model {str(model)[:60]!r} for /v1/{route}")])
    issues: list[dict[str, Any]] = []
    image = body.get("promptImage")
    if route == _TEXT and "promptImage" in body:
        issues.append(_issue("promptImage", "Unrecognized key in text_to_video", "unrecognized"))
    if route == _IMAGE:
        if caps.image == "none":
            issues.append(_issue("model", f"{model} does not take a promptImage"))
        elif not isinstance(image, str) or not image.startswith(_IMAGE_PREFIXES):
            issues.append(_issue("promptImage", "Expected an HTTPS URL or a data URI", "required"))
    text = body.get("promptText")
    if text is not None and not isinstance(text, str):
        issues.append(_issue("promptText", "Expected a string", "invalid_type"))
    neutral = {("prompt" if name == "promptText" else name): value for name, value in body.items()}
    if route == _IMAGE:
        neutral.pop("promptImage", None)  # checked above; the catalog's rule is per model
    for problem in wire_problems(caps, neutral):
        name = "promptText" if problem.field == "prompt" else problem.field
        if name == "promptText" and any(issue["path"] == [name] for issue in issues):
            continue
        issues.append(_issue(name, problem.message, problem.kind))
    if issues:
        raise _invalid(issues)
    return caps


def _shape(caps: ModelCapabilities, body: Mapping[str, Any]) -> tuple[int, str]:
    """The clip length and ``WxH`` a task renders."""
    duration = body.get("duration")
    seconds = duration if isinstance(duration, int) else caps.default_seconds
    ratio = body.get("ratio")
    if isinstance(ratio, str) and ":" in ratio:
        return seconds, ratio.replace(":", "x")
    return seconds, dimensions(caps.default_aspect_ratio, caps.default_resolution)


def _running(job: Job, at: float) -> bool:
    return job.started_at <= at < job.in_flight_until()


def _slot(sim: Simulator, job: Job) -> float:
    """When ``job`` may start without the key running more than ``runway.concurrency``
    tasks at any instant of its run (the earliest such time from its natural start)."""
    limit = sim.config.runway.concurrency
    others = [
        other
        for other in sim.store.jobs
        if other.protocol == PROTOCOL and other.api_key_id == job.api_key_id and other is not job
    ]
    length = job.finished_at - job.started_at
    natural = job.started_at
    candidates = sorted({natural, *(o.in_flight_until() for o in others)})
    for start in (c for c in candidates if c >= natural):
        points = [start, *(o.started_at for o in others if start < o.started_at < start + length)]
        if all(sum(_running(o, at) for o in others) < limit for at in points):
            return start
    return natural  # unreachable: after every other task ends the key is idle


def _schedule(sim: Simulator, job: Job) -> None:
    """Hold ``job`` ``THROTTLED`` until a concurrency slot frees: its start and end move."""
    job.data["pending_until"] = job.started_at
    delay = _slot(sim, job) - job.started_at
    job.started_at += delay
    job.finished_at += delay


async def _create(ctx: Ctx, route: str) -> Response:
    sim = ctx.sim
    body = await _json_object(ctx.request)
    caps = _check(route, body)
    seconds, size = _shape(caps, body)
    delay = sim.config.faults.create_delay
    if delay > 0:
        ctx.faults.append("create_delay")
        # Shielded: a client that disconnects does not stop the server from making the job.
        await asyncio.shield(asyncio.sleep(delay))
    try:
        job = new_job(
            ctx,
            prompt=str(body.get("promptText") or ""),
            model=caps.model,
            seconds=seconds,
            size=size,
            kind="create",
            protocol=PROTOCOL,
            id_format=task_id,
            data={"input": dict(body), "route": route},
        )
    finally:
        # A task made before an injected 5xx is scheduled like any other.
        made = sim.log.creates[-1] if sim.log.creates else None
        if made is not None and made.request_id == ctx.request_id:
            created = sim.store.any(made.video_id)
            if created is not None and "pending_until" not in created.data:
                _schedule(sim, created)
    ctx.video_status = task_status(job, ctx.now)[0].value
    return JSONResponse({"id": job.id})


async def text_to_video(ctx: Ctx) -> Response:
    """``POST /v1/text_to_video``."""
    return await _create(ctx, _TEXT)


async def image_to_video(ctx: Ctx) -> Response:
    """``POST /v1/image_to_video``."""
    return await _create(ctx, _IMAGE)


def output_url(sim: Simulator, request: Request, job: Job) -> str:
    """A freshly signed URL of ``job``'s video, valid for ``runway.output_url_ttl``."""
    expires = sim.now() + sim.clock.real(sim.config.runway.output_url_ttl)
    query = urlencode({"_jwt": mint_token(sim.config.seed, job.id, expires)})
    return f"{str(request.base_url).rstrip('/')}{FILE_PREFIX}/{job.id}.mp4?{query}"


async def retrieve(ctx: Ctx) -> Response:
    """``GET /v1/tasks/{id}``: each read of a finished task signs its output URL anew."""
    job = _task(ctx)
    now = ctx.now
    status, _ = task_status(job, now)
    url = output_url(ctx.sim, ctx.request, job) if status is TaskStatus.SUCCEEDED else None
    ctx.video_status = status.value
    return JSONResponse(task_json(job, now, output_url=url))


async def delete(ctx: Ctx) -> Response:
    """``DELETE /v1/tasks/{id}``: cancels a pending, throttled or running task; deletes any
    other (it is then not found). ``204`` either way."""
    job = _task(ctx)
    now = ctx.now
    status, _ = task_status(job, now)
    if status in (TaskStatus.PENDING, TaskStatus.THROTTLED, TaskStatus.RUNNING):
        ctx.sim.store.cancel(job, now)
    else:
        ctx.sim.store.delete(job, now)
    return Response(status_code=204)


def sim_routes(sim: Simulator) -> list[Route]:
    """The output files, served without Runway's auth (its CDN): ``_jwt`` admits them."""

    async def serve(request: Request) -> Response:
        name = str(request.path_params["name"])
        job = sim.store.get(name.removesuffix(".mp4"))
        now = sim.now()
        if (
            not name.endswith(".mp4")
            or job is None
            or job.protocol != PROTOCOL
            or task_status(job, now)[0] is not TaskStatus.SUCCEEDED
        ):
            return PlainTextResponse("Not Found", status_code=404)
        problem = check_token(sim.config.seed, request.query_params.get("_jwt"), job.id, now)
        if problem is TokenProblem.INVALID:
            return PlainTextResponse("Unauthorized", status_code=401)
        if problem is TokenProblem.EXPIRED:
            return PlainTextResponse("Access denied: the URL has expired", status_code=403)
        drop = sim.faults.drop_download(job.id, Variant.VIDEO)
        try:
            return await content_response(
                sim.media,
                sim.media_job(job),
                Variant.VIDEO,
                request.headers.get("range"),
                drop_fraction=sim.config.faults.drop_after_fraction if drop else None,
            )
        except ApiError as exc:  # an unsatisfiable range
            return PlainTextResponse(exc.message, status_code=exc.status, headers=exc.headers)

    return [Route(FILE_PREFIX + "/{name}", serve, methods=["GET"])]


def routes(sim: Simulator, wrap: Wrap) -> list[Route]:
    """The protocol's routes (mounted before the OpenAI catch-all)."""

    def ep(handler: Handler, *, creates: bool = False) -> Endpoint:
        return wrap(handler, creates=creates, authenticate=_authenticate, render_error=render_error)

    return [
        Route("/v1/text_to_video", ep(text_to_video, creates=True), methods=["POST"]),
        Route("/v1/image_to_video", ep(image_to_video, creates=True), methods=["POST"]),
        Route("/v1/tasks/{task_id}", ep(retrieve), methods=["GET"]),
        Route("/v1/tasks/{task_id}", ep(delete), methods=["DELETE"]),
        *sim_routes(sim),
    ]
