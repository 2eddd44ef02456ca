"""The simulator's Replicate predictions protocol (``/v1/predictions``, ``/v1/models/…``).

Predictions are jobs of the shared store (``protocol="replicate"``), so they share the clock,
the in-flight limit, the injected faults, the create log and the media with the OpenAI side.
Wire shapes live in :mod:`reelforge.sim.replicate_wire`, webhook deliveries in
:mod:`reelforge.sim.replicate_hooks`. See ``docs/simulator.md`` (Replicate predictions protocol).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from reelforge.core.capabilities import capabilities_for
from reelforge.core.catalog import dimensions, wire_problems
from reelforge.core.models import Variant
from reelforge.sim.content import content_response
from reelforge.sim.log import api_key_id
from reelforge.sim.protocol import ApiError
from reelforge.sim.replicate_hooks import ReplicateWebhooks, webhook_secret
from reelforge.sim.replicate_wire import (
    PredictionStatus,
    Problem,
    data_removed,
    file_key,
    parse_cancel_after,
    parse_iso,
    prediction_id,
    prediction_json,
    prediction_status,
    render_error,
    version_id,
)
from reelforge.sim.routing import Endpoint, Handler, Wrap
from reelforge.sim.state import Job
from reelforge.sim.videos import Ctx, new_job

if TYPE_CHECKING:
    from reelforge.sim.simulator import Simulator

__all__ = ["routes", "running"]

PROTOCOL = "replicate"
_EVENTS = ("start", "output", "logs", "completed")
_DEFAULT_EVENTS = ["output", "completed"]
_MAX_WAIT = 60
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_MODEL_RE = re.compile(rf"^({_NAME}/{_NAME})(?::([0-9a-f]{{64}}))?$")
_PREFER_RE = re.compile(r"^\s*wait\s*(?:=\s*(\d+))?\s*$", re.IGNORECASE)


def _authenticate(request: Request) -> str:
    """``Authorization: Bearer <token>`` (or Replicate's older ``Token <token>``)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("bearer", "token") or not token.strip():
        raise ApiError(status=401, message="Unauthenticated")
    return api_key_id(token.strip())


def _retention(sim: Simulator) -> float:
    """The data retention in real seconds."""
    return sim.clock.real(sim.config.replicate.data_retention)


def _answer(ctx: Ctx, job: Job, status_code: int = 200) -> JSONResponse:
    body = prediction_json(job, ctx.now, retention=_retention(ctx.sim), seed=ctx.sim.config.seed)
    ctx.video_status = str(body["status"])
    return JSONResponse(body, status_code=status_code)


def _not_found() -> Problem:
    return Problem(status=404, title="Not found", message="Not found.")


def _prediction(ctx: Ctx) -> Job:
    job = ctx.sim.store.get(str(ctx.request.path_params["prediction_id"]), ctx.api_key_id)
    if job is None or job.protocol != PROTOCOL:
        raise _not_found()
    return job


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Problem(status=400, message="The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Problem(status=400, message="The request body must be a JSON object.")
    return data


def _invalid(fields: list[tuple[str, str, str]]) -> Problem:
    """A 422 naming each bad field (``(field, kind, description)``), as Replicate words it."""
    detail = "".join(f"- {name}: {description}\n" for name, _, description in fields)
    return Problem(
        status=422,
        title="Input validation failed",
        message=detail,
        extra={
            "invalid_fields": [
                {"type": kind, "field": name, "description": description}
                for name, kind, description in fields
            ]
        },
    )


def _model_known(sim: Simulator, model: str) -> bool:
    return model in sim.config.extra_models or capabilities_for(model, PROTOCOL).known


def _unknown_model(model: str) -> Problem:
    return Problem(
        status=404,
        title="Model not found",
        message=f"The requested model {model} does not exist, or you do not have access to it.",
    )


def _check_input(sim: Simulator, model: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        kind = "required" if data is None else "type"
        raise _invalid([("input", kind, "input is required and must be an object")])
    if model in sim.config.extra_models:
        prompt = data.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise _invalid([("input.prompt", "required", "prompt is required")])
        return data
    problems = wire_problems(capabilities_for(model, PROTOCOL), data)
    if problems:
        fields = []
        for problem in problems:
            description = f"{problem.field}: {problem.message}"
            kind = {"missing": "required", "type_error": "type"}.get(problem.kind, "value")
            if problem.allowed:
                allowed = ", ".join(json.dumps(value) for value in problem.allowed)
                description = f"{problem.field} must be one of the following: {allowed}"
                kind = "enum"
            fields.append((f"input.{problem.field}", kind, description))
        raise _invalid(fields)
    return data


def _check_webhook(body: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    webhook = body.get("webhook")
    events = body.get("webhook_events_filter")
    if webhook is not None and (
        not isinstance(webhook, str) or not re.match(r"^https?://[^\s/]+", webhook)
    ):
        raise _invalid([("webhook", "format", "webhook must be an HTTP(S) URL")])
    if events is None:
        return webhook, list(_DEFAULT_EVENTS)
    if not isinstance(events, list) or not all(event in _EVENTS for event in events):
        allowed = ", ".join(f'"{event}"' for event in _EVENTS)
        raise _invalid([("webhook_events_filter", "enum", f"each event must be one of: {allowed}")])
    return webhook, list(dict.fromkeys(events))


def _job_shape(sim: Simulator, model: str, data: Mapping[str, Any]) -> tuple[int, str]:
    """The clip length and ``WxH`` a prediction renders."""
    extra = sim.config.extra_models.get(model)
    duration = data.get("duration")
    if extra is not None:
        seconds = duration if isinstance(duration, int) and duration > 0 else extra.seconds[0]
        return seconds, extra.sizes[0]
    caps = capabilities_for(model, PROTOCOL)
    seconds = duration if isinstance(duration, int) else caps.default_seconds
    ratio = data.get("aspect_ratio") or caps.default_aspect_ratio
    resolution = data.get("resolution") or caps.default_resolution
    return seconds, dimensions(
        ratio if isinstance(ratio, str) else None,
        resolution if isinstance(resolution, str) else None,
    )


def _prefer_wait(request: Request) -> int | None:
    """Seconds of ``Prefer: wait[=N]`` (60 when bare); ``None`` when absent or not 1..60."""
    header = request.headers.get("prefer")
    match = _PREFER_RE.match(header or "")
    if match is None:
        return None
    seconds = int(match.group(1)) if match.group(1) else _MAX_WAIT
    return seconds if 1 <= seconds <= _MAX_WAIT else None


async def _create(ctx: Ctx, *, model: str, version: str, body: Mapping[str, Any]) -> Response:
    sim = ctx.sim
    if not _model_known(sim, model):
        raise _unknown_model(model)
    data = _check_input(sim, model, body.get("input"))
    webhook, events = _check_webhook(body)
    raw_deadline = ctx.request.headers.get("cancel-after")
    cancel_after = parse_cancel_after(raw_deadline) if raw_deadline is not None else None
    wait = _prefer_wait(ctx.request)
    seconds, size = _job_shape(sim, model, data)
    delay = sim.config.faults.create_delay
    if delay > 0:
        ctx.faults.append("create_delay")
        # Shielded: a client that disconnects does not stop the server from making the job.
        await asyncio.shield(asyncio.sleep(delay))
    now = ctx.now
    deadline = now + cancel_after if cancel_after is not None else None
    state: dict[str, Any] = {
        "input": data,
        "version": version,
        "base_url": str(ctx.request.base_url),
        "webhook": webhook,
        "webhook_events_filter": events,
        "deadline": deadline,
        "headers": {
            name: ctx.request.headers[name]
            for name in ("cancel-after", "prefer")
            if name in ctx.request.headers
        },
    }
    try:
        job = new_job(
            ctx,
            prompt=str(data["prompt"]),
            model=model,
            seconds=seconds,
            size=size,
            kind="create",
            protocol=PROTOCOL,
            id_format=prediction_id,
            data=state,
        )
    finally:
        # The deadline holds even when the answer is a 5xx after the job was made.
        made = sim.log.creates[-1] if sim.log.creates else None
        if deadline is not None and made is not None and made.request_id == ctx.request_id:
            created = sim.store.any(made.video_id)
            if created is not None and deadline < created.finished_at:
                created.canceled_at = deadline
    if wait is None:
        return _answer(ctx, job, 201)
    until = time.monotonic() + wait
    while time.monotonic() < until:
        if job.status(sim.now())[0].is_terminal:
            break
        await asyncio.sleep(0.05)
    response = _answer(ctx, job, 201)
    response.headers["preference-applied"] = f"wait={wait}"
    return response


async def create_for_model(ctx: Ctx) -> Response:
    """``POST /v1/models/{owner}/{name}/predictions`` (official models: ``version: hidden``)."""
    params = ctx.request.path_params
    model = f"{params['owner']}/{params['name']}"
    body = await _json_object(ctx.request)
    return await _create(ctx, model=model, version="hidden", body=body)


async def create(ctx: Ctx) -> Response:
    """``POST /v1/predictions`` with ``version``: 64 hex, ``owner/name`` or
    ``owner/name:version``."""
    body = await _json_object(ctx.request)
    version = body.get("version")
    if not isinstance(version, str) or not version:
        raise _invalid([("version", "required", "version is required")])
    sim = ctx.sim
    if _HEX64.match(version):
        models = [*sim.config.extra_models, *_catalog_models()]
        model = next((name for name in models if version_id(name) == version), None)
        if model is None:
            raise _invalid_version()
        return await _create(ctx, model=model, version=version, body=body)
    match = _MODEL_RE.match(version)
    if match is None:
        raise _invalid_version()
    model, pinned = match.group(1), match.group(2)
    if pinned is not None and (pinned != version_id(model) or not _model_known(sim, model)):
        raise _invalid_version()
    return await _create(ctx, model=model, version=pinned or "hidden", body=body)


def _catalog_models() -> tuple[str, ...]:
    from reelforge.core.capabilities import known_models  # noqa: PLC0415  # loads the catalog

    return known_models(PROTOCOL)


def _invalid_version() -> Problem:
    return Problem(
        status=422,
        title="Invalid version",
        message="The specified version does not exist (or perhaps you don't have permission "
        "to use it?)",
    )


async def retrieve(ctx: Ctx) -> Response:
    """``GET /v1/predictions/{id}``."""
    return _answer(ctx, _prediction(ctx))


async def cancel(ctx: Ctx) -> Response:
    """``POST /v1/predictions/{id}/cancel``: stops an unfinished prediction; answers it."""
    job = _prediction(ctx)
    now = ctx.now
    if not job.status(now)[0].is_terminal and now < job.finished_at:
        job.canceled_at = now
    return _answer(ctx, job)


def _cursor(direction: str, seq: int) -> str:
    raw = json.dumps({"d": direction, "s": seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _read_cursor(text: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        direction, seq = data["d"], data["s"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise Problem(status=400, title="Invalid cursor", message="Invalid cursor") from None
    if direction not in ("next", "previous") or not isinstance(seq, int):
        raise Problem(status=400, title="Invalid cursor", message="Invalid cursor")
    return direction, seq


def _time_filter(query: Mapping[str, str], name: str) -> float | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    value = parse_iso(text)
    if value is None:
        raise Problem(
            status=400,
            title="Invalid query",
            message=f"{name} must be an ISO 8601 date-time, got {text!r}.",
        )
    return value


async def list_predictions(ctx: Ctx) -> Response:
    """``GET /v1/predictions?created_after=&created_before=&cursor=``: newest first."""
    query = ctx.request.query_params
    after = _time_filter(query, "created_after")
    before = _time_filter(query, "created_before")
    matching = [
        job
        for job in reversed(ctx.sim.store.visible(ctx.api_key_id))
        if job.protocol == PROTOCOL
        and (after is None or job.created_at > after)
        and (before is None or job.created_at < before)
    ]
    size = ctx.sim.config.replicate.page_size
    cursor = query.get("cursor")
    page = matching[:size]
    if cursor:
        direction, seq = _read_cursor(cursor)
        if direction == "next":
            page = [job for job in matching if job.seq < seq][:size]
        else:
            page = [job for job in matching if job.seq > seq][-size:]
    base = str(ctx.request.base_url).rstrip("/") + "/v1/predictions"
    filters = {name: query[name] for name in ("created_after", "created_before") if query.get(name)}

    def link(direction: str, seq: int) -> str:
        return f"{base}?{urlencode({**filters, 'cursor': _cursor(direction, seq)})}"

    following = bool(page) and any(job.seq < page[-1].seq for job in matching)
    preceding = bool(page) and any(job.seq > page[0].seq for job in matching)
    now = ctx.now
    retention = _retention(ctx.sim)
    return JSONResponse(
        {
            "next": link("next", page[-1].seq) if following else None,
            "previous": link("previous", page[0].seq) if preceding else None,
            "results": [
                prediction_json(job, now, retention=retention, seed=ctx.sim.config.seed)
                for job in page
            ],
        }
    )


async def default_secret(ctx: Ctx) -> Response:
    """``GET /v1/webhooks/default/secret``: the key's signing secret (stable per key)."""
    return JSONResponse({"key": webhook_secret(ctx.sim, ctx.api_key_id)})


def _delivery(sim: Simulator) -> Route:
    async def serve(request: Request) -> Response:
        key = str(request.path_params["key"])
        job = next(
            (
                j
                for j in sim.store.jobs
                if j.protocol == PROTOCOL and file_key(sim.config.seed, j.id) == key
            ),
            None,
        )
        now = sim.now()
        if (
            job is None
            or prediction_status(job, now) is not PredictionStatus.SUCCEEDED
            or data_removed(job, now, _retention(sim))
        ):
            return PlainTextResponse("Not Found", status_code=404)
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

    return Route("/delivery/{key}/output.mp4", serve, methods=["GET"])


def _limit_headers(endpoint: Endpoint) -> Endpoint:
    """Replicate's ``ratelimit-remaining`` / ``ratelimit-reset`` instead of OpenAI's names."""

    async def run(request: Request) -> Response:
        response = await endpoint(request)
        headers = response.headers
        remaining = headers.get("x-ratelimit-remaining-requests")
        reset = headers.get("x-ratelimit-reset-requests")
        for name in [key for key in headers if key.startswith("x-ratelimit-")]:
            del headers[name]
        if "ratelimit-reset" not in headers and remaining is not None and reset is not None:
            headers["ratelimit-remaining"] = remaining
            headers["ratelimit-reset"] = str(_whole_seconds(reset))
        return response

    return run


def _whole_seconds(text: str) -> int:
    """``59.5s`` or ``500ms`` rounded up to whole seconds."""
    if text.endswith("ms"):
        return -(-int(text[:-2]) // 1000)
    return int(-(-float(text.rstrip("s")) // 1))


def routes(sim: Simulator, wrap: Wrap) -> list[Route]:
    """The protocol's routes (mounted before the OpenAI catch-all)."""

    def ep(handler: Handler, *, creates: bool = False) -> Endpoint:
        return _limit_headers(
            wrap(handler, creates=creates, authenticate=_authenticate, render_error=render_error)
        )

    return [
        Route(
            "/v1/models/{owner}/{name}/predictions",
            ep(create_for_model, creates=True),
            methods=["POST"],
        ),
        Route("/v1/predictions", ep(create, creates=True), methods=["POST"]),
        Route("/v1/predictions", ep(list_predictions), methods=["GET"]),
        Route("/v1/predictions/{prediction_id}", ep(retrieve), methods=["GET"]),
        Route("/v1/predictions/{prediction_id}/cancel", ep(cancel), methods=["POST"]),
        Route("/v1/webhooks/default/secret", ep(default_secret), methods=["GET"]),
        _delivery(sim),
    ]


@contextlib.asynccontextmanager
async def running(sim: Simulator) -> AsyncIterator[None]:
    """Webhook deliveries of predictions created with a ``webhook``, while the app runs."""
    hooks = ReplicateWebhooks(sim, retention=_retention)
    async with hooks.running():
        yield
