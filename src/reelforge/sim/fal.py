"""The simulator's fal queue protocol (``docs/simulator.md``, "fal queue protocol").

* ``POST /{endpoint id}`` (the full id: ``/fal-ai/veo3.1/fast/image-to-video``) submits the
  model input, validated like the real endpoint (catalog models from
  :mod:`reelforge.core.catalog`, plus ``extra_models``); ``?fal_webhook=`` registers a webhook.
* ``GET /{owner}/{app}/requests/{id}/status?logs=``, ``GET /{owner}/{app}/requests/{id}``,
  ``PUT /{owner}/{app}/requests/{id}/cancel``: only at ``owner/app`` (``workflows/`` and
  ``comfy/`` apps keep three segments); the long path answers 404 as fal's does.
* Output files are served without credentials at ``/_fal/files/{id}/output.mp4`` (the CDN), the
  webhook key set at ``/_fal/.well-known/jwks.json``.

Every request runs through the simulator's shared pipeline (auth via :func:`authenticate`, rate
limits, injected faults, the request log); errors are fal's (:mod:`reelforge.sim.fal_wire`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from reelforge.core.capabilities import ModelCapabilities, capabilities_for
from reelforge.core.catalog import dimensions, wire_problems
from reelforge.core.models import RemoteState, Variant
from reelforge.sim.content import content_response
from reelforge.sim.fal_webhooks import JWKS_PATH, FalSigner, WebhookDelivery
from reelforge.sim.fal_wire import (
    CANCELED_MESSAGE,
    CANCELED_TYPE,
    INFRA_ERRORS,
    FalError,
    ReadPath,
    app_of,
    authenticate,
    content_policy,
    parse_read_path,
    render_error,
    validation_error,
    wire_problem,
)
from reelforge.sim.media import render_size
from reelforge.sim.protocol import ApiError
from reelforge.sim.routing import Wrap
from reelforge.sim.videos import Ctx, new_job

if TYPE_CHECKING:
    from reelforge.sim.simulator import Simulator
    from reelforge.sim.state import Job

__all__ = ["CANCEL_GRACE", "FILES_PREFIX", "routes", "running", "sim_routes"]

FILES_PREFIX = "/_fal/files"
"""Where output files are served (fal: ``https://v3b.fal.media/files/...``)."""
CANCEL_GRACE = 2.0
"""Simulated seconds a running request takes to stop after a cancel; one that finishes sooner
completes (and is paid for)."""
_FILE_NAME = "output.mp4"
_LIFECYCLE_HEADER = "x-fal-object-lifecycle-preference"


def _request_uuid(bits: int) -> str:
    """A uuid4-shaped request id from 128 seeded bits."""
    return str(uuid.UUID(int=bits, version=4))


def _not_found(request_id: str | None = None) -> FalError:
    if request_id is None:
        return FalError(status=404, message="Not Found")
    return FalError(status=404, message=f"Request {request_id} not found")


# --- submit -----------------------------------------------------------------------------------


def _model(sim: Simulator, endpoint_id: str) -> ModelCapabilities:
    caps = capabilities_for(endpoint_id, provider="fal")
    if not caps.known and endpoint_id not in sim.config.extra_models:
        raise FalError(status=404, message=f"Application '{endpoint_id}' not found")
    return caps


async def _input(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problem: dict[str, Any] = {
            "loc": ["body", 0],
            "msg": "JSON decode error",
            "type": "json_invalid",
            "ctx": {"error": str(exc).split(":")[0]},
        }
        raise validation_error([problem]) from None
    if not isinstance(body, dict):
        problem = {
            "loc": ["body"],
            "msg": "Input should be a valid dictionary",
            "type": "dict_type",
        }
        raise validation_error([problem])
    return body


def _webhook(request: Request) -> str | None:
    url = request.query_params.get("fal_webhook")
    if url is None:
        return None
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        problem = {
            "loc": ["query", "fal_webhook"],
            "msg": "Input should be a valid URL",
            "type": "url_parsing",
        }
        raise validation_error([problem])
    return url


def _wire(caps: ModelCapabilities, body: dict[str, Any], field: str) -> object:
    name = caps.wire_name(field)
    return body.get(name[0]) if name is not None else None


def _seconds(caps: ModelCapabilities, body: dict[str, Any], fallback: int) -> int:
    value = _wire(caps, body, "seconds")
    text = str(value).removesuffix("s") if value is not None else ""
    if text.isdigit() and int(text) > 0:
        return int(text)
    return caps.default_seconds if caps.known else fallback


def _size(sim: Simulator, caps: ModelCapabilities, endpoint_id: str, body: dict[str, Any]) -> str:
    if not caps.known:
        return sim.config.extra_models[endpoint_id].sizes[0]
    aspect = _wire(caps, body, "aspect_ratio")
    resolution = _wire(caps, body, "resolution")
    return dimensions(
        str(aspect) if aspect is not None else caps.default_aspect_ratio,
        str(resolution) if resolution is not None else caps.default_resolution,
    )


def _lifecycle(request: Request, time_scale: float) -> float | None:
    """Real seconds from completion to file expiry asked by the lifecycle header, if any."""
    raw = request.headers.get(_LIFECYCLE_HEADER)
    if raw is None:
        return None
    try:
        seconds = json.loads(raw)["expiration_duration_seconds"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
        return float(seconds) / time_scale
    return None


def _urls(base: str, app: str, request_id: str) -> dict[str, str]:
    root = f"{base}/{app}/requests/{request_id}"
    return {"response_url": root, "status_url": f"{root}/status", "cancel_url": f"{root}/cancel"}


async def submit(ctx: Ctx) -> Response:
    """``POST /{endpoint id}[?fal_webhook=]``: queue a request for the model."""
    sim, request = ctx.sim, ctx.request
    endpoint_id = str(request.path_params["path"]).strip("/")
    caps = _model(sim, endpoint_id)
    body = await _input(request)
    webhook = _webhook(request)
    problems = [wire_problem(problem) for problem in wire_problems(caps, body)]
    if problems:
        raise validation_error(problems)
    fallback = sim.config.extra_models[endpoint_id].seconds[0] if not caps.known else 0
    expires_after = _lifecycle(request, sim.config.time_scale)
    delay = sim.config.faults.create_delay
    if delay > 0:
        ctx.faults.append("create_delay")
        # Shielded: a client that disconnects does not stop the server from queueing it.
        await asyncio.shield(asyncio.sleep(delay))
    base = str(request.base_url).rstrip("/")
    app = app_of(endpoint_id)
    job = new_job(
        ctx,
        prompt=str(body["prompt"]),
        model=endpoint_id,
        seconds=_seconds(caps, body, fallback),
        size=_size(sim, caps, endpoint_id, body),
        kind="create",
        protocol="fal",
        id_format=_request_uuid,
        data={
            "app": app,
            "input": body,
            "webhook": webhook,
            "user_id": ctx.api_key_id,
            "base_url": base,
        },
    )
    if expires_after is not None:
        job.expires_after = expires_after
    ctx.video_status = "IN_QUEUE"
    answer = {
        "status": "IN_QUEUE",
        "request_id": job.id,
        "gateway_request_id": job.id,
        **_urls(base, app, job.id),
        "queue_position": _queue_position(sim, job),
    }
    return JSONResponse(answer, headers={"x-fal-request-id": job.id})


# --- reads ------------------------------------------------------------------------------------


def _job(ctx: Ctx, where: ReadPath) -> Job:
    job = ctx.sim.store.get(where.request_id, ctx.api_key_id)
    if job is None or job.protocol != "fal" or job.data.get("app") != where.app:
        raise _not_found(where.request_id)
    return job


def _queue_position(sim: Simulator, job: Job) -> int:
    """How many requests of the same app wait ahead of ``job`` (0-based)."""
    now = sim.now()
    return sum(
        1
        for other in sim.store.jobs
        if other.seq < job.seq
        and other.protocol == "fal"
        and other.data.get("app") == job.data.get("app")
        and other.status(now)[0] is RemoteState.QUEUED
    )


def _timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).isoformat().replace("+00:00", "Z")


def _logs(job: Job, now: float) -> list[dict[str, Any]]:
    """What the model printed so far: a line at start and one per tenth of the work."""
    if now < job.started_at:
        return []
    end = min(now, job.finished_at)
    span = max(job.finished_at - job.started_at, 1e-9)
    lines = [("Starting generation", job.started_at)]
    for tenth in range(1, 10):
        at = job.started_at + span * tenth / 10
        if at > end:
            break
        lines.append((f"Generating: {tenth * 10}%", at))
    return [
        {"message": message, "level": "INFO", "source": "USER", "timestamp": _timestamp(at)}
        for message, at in lines
    ]


def _infra_error(sim: Simulator, job: Job) -> str:
    """The request-error type a failed generation reports (seeded by the request id)."""
    return random.Random(f"{sim.config.seed}:{job.id}:fal-error").choice(sorted(INFRA_ERRORS))


def _failure(sim: Simulator, job: Job, state: RemoteState) -> FalError | None:
    """The error a finished request answers on its result, ``None`` if it succeeded."""
    if state is RemoteState.CANCELED:
        return FalError(status=400, message=CANCELED_MESSAGE, request_id=job.id)
    if state is not RemoteState.FAILED:
        return None
    if job.fail_code == "moderation_blocked":
        return content_policy(job.id)
    kind = _infra_error(sim, job)
    status, message = INFRA_ERRORS[kind]
    return FalError(status=status, message=message, error_type=kind, request_id=job.id)


async def status(ctx: Ctx, where: ReadPath) -> Response:
    """``GET .../requests/{id}/status?logs=0|1``: 202 while queued or running, 200 once done."""
    sim, job = ctx.sim, _job(ctx, where)
    now = ctx.now
    state, _ = job.status(now)
    with_logs = ctx.request.query_params.get("logs", "0").lower() in ("1", "true")
    response_url = _urls(str(job.data["base_url"]), where.app, job.id)["response_url"]
    body: dict[str, Any]
    if state is RemoteState.QUEUED:
        body = {"status": "IN_QUEUE", "queue_position": _queue_position(sim, job)}
    elif state is RemoteState.IN_PROGRESS:
        body = {"status": "IN_PROGRESS", "logs": _logs(job, now) if with_logs else None}
    else:
        body = {"status": "COMPLETED", "logs": _logs(job, now) if with_logs else None}
        body["metrics"] = {}
        failure = _failure(sim, job, state)
        if state is RemoteState.CANCELED:
            body.update(error=CANCELED_MESSAGE, error_type=CANCELED_TYPE)
        elif failure is not None and failure.error_type is not None:
            body.update(error=failure.message, error_type=failure.error_type)
        elif failure is not None:
            body.update(error=failure.message, error_type="content_policy_violation")
        else:
            inference = (job.finished_at - job.started_at) * sim.config.time_scale
            body["metrics"] = {"inference_time": round(inference, 3)}
    body["response_url"] = response_url
    ctx.video_status = body["status"]
    code = 200 if body["status"] == "COMPLETED" else 202
    return JSONResponse(body, status_code=code, headers={"x-fal-request-id": job.id})


async def _output(sim: Simulator, job: Job) -> dict[str, Any]:
    """The model's output JSON: ``{"video": File}`` (Wan's VideoFile, Seedance's seed)."""
    size = await asyncio.to_thread(sim.media.size, sim.media_job(job), Variant.VIDEO)
    video: dict[str, Any] = {
        "url": f"{job.data['base_url']}{FILES_PREFIX}/{job.id}/{_FILE_NAME}",
        "content_type": "video/mp4",
        "file_name": _FILE_NAME,
        "file_size": size,
    }
    output: dict[str, Any] = {"video": video}
    seed = job.data["input"].get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        seed = random.Random(f"{sim.config.seed}:{job.id}:seed").randrange(2**31)
    endpoint = job.model
    if endpoint.startswith(("fal-ai/wan/", "wan/")):
        width, height = render_size(job.size, sim.config.media_scale)
        fps = sim.config.fps
        video.update(
            width=width,
            height=height,
            fps=fps,
            duration=job.seconds,
            num_frames=job.seconds * fps,
        )
        output["seed"] = seed
    elif "seedance" in endpoint:
        output["seed"] = seed
    return output


async def result(ctx: Ctx, where: ReadPath) -> Response:
    """``GET .../requests/{id}``: the output, or the failure as fal's error.

    Before completion fal's behaviour is undocumented; the simulator answers 400
    ``{"detail": "Request is still in progress"}`` (a client must wait for ``COMPLETED``)."""
    sim, job = ctx.sim, _job(ctx, where)
    state, _ = job.status(ctx.now)
    if not state.is_terminal:
        raise FalError(status=400, message="Request is still in progress", request_id=job.id)
    failure = _failure(sim, job, state)
    if failure is not None:
        raise failure
    output = await _output(sim, job)
    ctx.video_status = "COMPLETED"
    return JSONResponse(output, headers={"x-fal-request-id": job.id})


async def cancel(ctx: Ctx, where: ReadPath) -> Response:
    """``PUT .../requests/{id}/cancel``: a queued request is removed at once (200 ``OK``); a
    running one is asked to stop (202 ``CANCELLATION_REQUESTED``) and stops
    :data:`CANCEL_GRACE` simulated seconds later unless it finishes first; a finished (or
    already cancelled) one answers 400 ``ALREADY_COMPLETED``; an unknown one 404 ``NOT_FOUND``."""
    sim = ctx.sim
    try:
        job = _job(ctx, where)
    except FalError:
        return _cancel_answer("NOT_FOUND", 404, None)
    now = ctx.now
    state, _ = job.status(now)
    if state is RemoteState.QUEUED:
        sim.store.cancel(job, now)
        return _cancel_answer("OK", 200, job.id)
    if state is RemoteState.IN_PROGRESS:
        if job.canceled_at is None:
            sim.store.cancel(job, now + CANCEL_GRACE / sim.config.time_scale)
        return _cancel_answer("CANCELLATION_REQUESTED", 202, job.id)
    return _cancel_answer("ALREADY_COMPLETED", 400, job.id)


def _cancel_answer(word: str, code: int, request_id: str | None) -> Response:
    headers = {"x-fal-request-id": request_id or str(uuid.uuid4())}
    return JSONResponse({"status": word}, status_code=code, headers=headers)


async def _read(ctx: Ctx) -> Response:
    request = ctx.request
    where = parse_read_path(str(request.path_params["path"]), request.method)
    if where is None:
        raise _not_found()
    if where.operation == "status":
        return await status(ctx, where)
    if where.operation == "cancel":
        return await cancel(ctx, where)
    return await result(ctx, where)


# --- mounting ---------------------------------------------------------------------------------


def routes(sim: Simulator, wrap: Wrap) -> list[Route]:
    """Submit, status, result and cancel; mounted last, so they see only unrouted paths."""

    def endpoint(handler: Any, *, creates: bool = False) -> Any:
        return wrap(handler, creates=creates, authenticate=authenticate, render_error=render_error)

    return [
        Route("/{path:path}", endpoint(submit, creates=True), methods=["POST"]),
        Route("/{path:path}", endpoint(_read), methods=["GET", "PUT"]),
    ]


async def webhook_payload(sim: Simulator, job: Job) -> dict[str, Any] | None:
    """What a finished request's webhook carries (``None`` while it runs)."""
    state, _ = job.status(sim.now())
    if not state.is_terminal:
        return None
    payload: dict[str, Any] = {"request_id": job.id, "gateway_request_id": job.id}
    failure = _failure(sim, job, state)
    if failure is None:
        payload.update(status="OK", payload=await _output(sim, job))
    else:
        payload.update(
            status="ERROR",
            error=f"Invalid status code: {failure.status}",
            payload=failure.body(),
        )
    return payload


@contextlib.asynccontextmanager
async def running(sim: Simulator) -> AsyncIterator[None]:
    """Webhook deliveries while the app runs."""

    async def payload(job: Job) -> dict[str, Any] | None:
        return await webhook_payload(sim, job)

    delivery = WebhookDelivery(sim, FalSigner(sim.config.seed), payload)
    async with delivery.running():
        yield


def sim_routes(sim: Simulator) -> list[Route]:
    """Routes served without fal's auth: the webhook JWKS and the output files (the CDN)."""
    signer = FalSigner(sim.config.seed)

    async def jwks(_: Request) -> Response:
        return JSONResponse(signer.jwks())

    async def file(request: Request) -> Response:
        job = sim.store.any(str(request.path_params["request_id"]))
        gone = PlainTextResponse("Not Found", status_code=404)
        if job is None or job.protocol != "fal" or request.path_params["name"] != _FILE_NAME:
            return gone
        now = sim.now()
        expires = job.expires_at()
        if job.status(now)[0] is not RemoteState.COMPLETED or (
            expires is not None and now >= expires
        ):
            return gone
        drop = sim.faults.drop_download(job.id, Variant.VIDEO)
        try:
            return await content_response(
                sim.media,
                sim.media_job(job),
                Variant.VIDEO,
                request.headers.get("range"),
                drop_fraction=sim.config.faults.drop_after_fraction if drop else None,
            )
        except ApiError as exc:
            return PlainTextResponse(exc.message, status_code=exc.status, headers=exc.headers)

    return [
        Route(JWKS_PATH, jwks, methods=["GET"]),
        Route(FILES_PREFIX + "/{request_id}/{name}", file, methods=["GET"]),
    ]
