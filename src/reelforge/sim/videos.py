"""Handlers of the ``/v1/videos`` endpoints. Each takes a :class:`Ctx` and returns a response."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reelforge.core.models import RemoteState, Variant
from reelforge.sim.content import content_response
from reelforge.sim.log import CreateRecord
from reelforge.sim.media import probe_video
from reelforge.sim.protocol import (
    EXTENSION_SECONDS,
    ApiError,
    RequestBody,
    parse_create,
    parse_prompt,
    parse_seconds,
    read_body,
    source_video_id,
)
from reelforge.sim.state import Job

if TYPE_CHECKING:
    from reelforge.sim.simulator import Simulator

__all__ = [
    "Ctx",
    "content",
    "create",
    "delete",
    "edit",
    "extend",
    "list_videos",
    "new_job",
    "remix",
    "retrieve",
]

_DEFAULT_LIMIT = 20
_MAX_LIMIT = 100


@dataclass(kw_only=True)
class Ctx:
    """One authenticated request on its way through a handler."""

    sim: Simulator
    request: Request
    request_id: str
    api_key_id: str
    faults: list[str] = field(default_factory=list)
    video_status: str | None = None
    """The status of the Video object answered, for the request log."""

    @property
    def now(self) -> float:
        """The simulator's time now."""
        return self.sim.now()


def _not_found(video_id: str) -> ApiError:
    return ApiError(
        status=404,
        message=f"No video found with id '{video_id}'.",
        param="video_id",
        code="not_found",
    )


def _job(ctx: Ctx, video_id: str | None = None) -> Job:
    video_id = video_id if video_id is not None else str(ctx.request.path_params["video_id"])
    job = ctx.sim.store.get(video_id, ctx.api_key_id)
    if job is None or job.protocol != "openai":  # fal and Replicate jobs live on their routes
        raise _not_found(video_id)
    return job


def _completed_source(ctx: Ctx, video_id: str, action: str) -> Job:
    job = _job(ctx, video_id)
    status, _ = job.status(ctx.now)
    if status is not RemoteState.COMPLETED:
        raise ApiError(
            status=400,
            message=f"Video '{video_id}' is {status.value}; only completed videos can be {action}.",
            param="video_id",
            code="invalid_video_state",
        )
    return job


def video_response(ctx: Ctx, job: Job) -> JSONResponse:
    """The Video object, with an ``openai-poll-after-ms`` hint while the job is unfinished."""
    now = ctx.now
    response = JSONResponse(job.to_json(now))
    config = ctx.sim.config
    status, _ = job.status(now)
    ctx.video_status = status.value
    if config.poll_after_hint and not status.is_terminal:
        remaining_ms = math.ceil(max(0.0, job.finished_at - now) * 1000 / 2)
        hint = min(max(remaining_ms, config.poll_after_min_ms), config.poll_after_max_ms)
        response.headers["openai-poll-after-ms"] = str(hint)
    return response


def new_job(
    ctx: Ctx,
    *,
    prompt: str,
    model: str,
    seconds: int,
    size: str,
    kind: str,
    source: str | None = None,
    protocol: str = "openai",
    id_format: Callable[[int], str] | None = None,
    data: dict[str, Any] | None = None,
) -> Job:
    """Create a job as a paid create does, whatever the protocol: the in-flight limit and the
    injected 5xx before or after the job exists, and a :class:`CreateRecord` in the log."""
    sim = ctx.sim
    refusal = sim.faults.too_many_in_flight(sim.store.in_flight(ctx.api_key_id, ctx.now))
    if refusal is not None:
        raise refusal
    before = sim.faults.error_before_create()
    if before is not None:
        raise before
    job = sim.store.create(
        api_key_id=ctx.api_key_id,
        prompt=prompt,
        model=model,
        seconds=seconds,
        size=size,
        now=ctx.now,
        remixed_from=source,
        kind=kind,
        protocol=protocol,
        id_format=id_format,
        data=data,
    )
    sim.log.creates.append(
        CreateRecord(
            video_id=job.id,
            api_key_id=ctx.api_key_id,
            prompt=prompt,
            model=model,
            seconds=str(seconds),
            size=size,
            created_at=job.created_at,
            request_id=ctx.request_id,
            remixed_from=source,
            kind=kind,
        )
    )
    after = sim.faults.error_after_create()
    if after is not None:
        raise after
    return job


async def create(ctx: Ctx) -> Response:
    """``POST /v1/videos`` (JSON or multipart)."""
    body = await read_body(ctx.request)
    params = parse_create(body, ctx.sim.config)
    delay = ctx.sim.config.faults.create_delay
    if delay > 0:
        ctx.faults.append("create_delay")
        # Shielded: a client that disconnects does not stop the server from making the job.
        await asyncio.shield(asyncio.sleep(delay))
    job = new_job(
        ctx,
        prompt=params.prompt,
        model=params.model,
        seconds=params.seconds,
        size=params.size,
        kind="create",
    )
    return video_response(ctx, job)


async def retrieve(ctx: Ctx) -> Response:
    """``GET /v1/videos/{video_id}``."""
    return video_response(ctx, _job(ctx))


async def delete(ctx: Ctx) -> Response:
    """``DELETE /v1/videos/{video_id}``: the job and its assets are gone."""
    job = _job(ctx)
    ctx.sim.store.delete(job, ctx.now)
    return JSONResponse({"id": job.id, "object": "video.deleted", "deleted": True})


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return _DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(
            status=400,
            message=f"Invalid 'limit': expected an integer, but got '{raw}' instead.",
            param="limit",
            code="invalid_type",
        ) from None
    if limit < 0:
        raise ApiError(
            status=400,
            message=f"Invalid 'limit': integer below minimum value. Expected a value >= 0, "
            f"but got {limit} instead.",
            param="limit",
            code="integer_below_min_value",
        )
    if limit > _MAX_LIMIT:
        raise ApiError(
            status=400,
            message=f"Invalid 'limit': integer above maximum value. Expected a value <= "
            f"{_MAX_LIMIT}, but got {limit} instead.",
            param="limit",
            code="integer_above_max_value",
        )
    return limit


async def list_videos(ctx: Ctx) -> Response:
    """``GET /v1/videos?after=&limit=&order=``: newest first by default."""
    query = ctx.request.query_params
    limit = _limit(query.get("limit"))
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise ApiError(
            status=400,
            message=f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
            param="order",
            code="invalid_value",
        )
    jobs = [job for job in ctx.sim.store.visible(ctx.api_key_id) if job.protocol == "openai"]
    if order == "desc":
        jobs.reverse()
    after = query.get("after")
    if after:
        position = next((i for i, job in enumerate(jobs) if job.id == after), None)
        if position is None:
            raise ApiError(
                status=400,
                message=f"Invalid 'after': no video found with id '{after}'.",
                param="after",
                code="invalid_value",
            )
        jobs = jobs[position + 1 :]
    live = [job for job in jobs if job.deleted_at is None]
    page = live[:limit]
    now = ctx.now
    body: dict[str, Any] = {
        "object": "list",
        "data": [job.to_json(now) for job in page],
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
        "has_more": len(live) > len(page),
    }
    return JSONResponse(body)


async def remix(ctx: Ctx) -> Response:
    """``POST /v1/videos/{video_id}/remix``: a new job from a completed one and a new prompt."""
    body = await read_body(ctx.request)
    source = _completed_source(ctx, str(ctx.request.path_params["video_id"]), "remixed")
    prompt = parse_prompt(body)
    job = new_job(
        ctx,
        prompt=prompt,
        model=source.model,
        seconds=source.seconds,
        size=source.size,
        kind="remix",
        source=source.id,
    )
    return video_response(ctx, job)


def _source_params(
    ctx: Ctx, body: RequestBody, source_id: str | None, action: str
) -> tuple[str, int, str]:
    """Model, seconds and size of an edit's or extension's source.

    An uploaded video is probed: its duration (rounded, at least 1 s) and its orientation
    (portrait 720x1280, else 1280x720) describe the new job, made with sora-2.
    """
    if source_id is None:
        probed = probe_video(body.files["video"])
        if probed is None:
            raise ApiError(
                status=400,
                message="Invalid 'video': the file could not be read as a video.",
                param="video",
                code="invalid_video",
            )
        duration, width, height = probed
        size = "720x1280" if height > width else "1280x720"
        return "sora-2", max(1, round(duration)), size
    source = _completed_source(ctx, source_id, action)
    return source.model, source.seconds, source.size


async def edit(ctx: Ctx) -> Response:
    """``POST /v1/videos/edits``: ``prompt`` + ``video`` (an upload or ``{"id": …}``)."""
    body = await read_body(ctx.request)
    prompt = parse_prompt(body)
    source_id = source_video_id(body)
    model, seconds, size = _source_params(ctx, body, source_id, "edited")
    job = new_job(
        ctx, prompt=prompt, model=model, seconds=seconds, size=size, kind="edit", source=source_id
    )
    return video_response(ctx, job)


async def extend(ctx: Ctx) -> Response:
    """``POST /v1/videos/extensions``: the new job's ``seconds`` is the stitched total."""
    body = await read_body(ctx.request)
    prompt = parse_prompt(body)
    extra = parse_seconds(body, EXTENSION_SECONDS, default=None)
    source_id = source_video_id(body)
    model, seconds, size = _source_params(ctx, body, source_id, "extended")
    job = new_job(
        ctx,
        prompt=prompt,
        model=model,
        seconds=seconds + extra,
        size=size,
        kind="extension",
        source=source_id,
    )
    return video_response(ctx, job)


async def content(ctx: Ctx) -> Response:
    """``GET /v1/videos/{video_id}/content?variant=``: streamed, with ``Range`` support."""
    raw = ctx.request.query_params.get("variant") or Variant.VIDEO.value
    try:
        variant = Variant(raw)
    except ValueError:
        raise ApiError(
            status=400,
            message=f"Invalid value: '{raw}'. Supported values are: 'video', 'thumbnail', "
            "and 'spritesheet'.",
            param="variant",
            code="invalid_value",
        ) from None
    job = _job(ctx)
    now = ctx.now
    status, _ = job.status(now)
    if status is not RemoteState.COMPLETED:
        raise ApiError(
            status=404,
            message=f"Video is not ready yet. Current status: {status.value}."
            if status is not RemoteState.FAILED
            else f"Video '{job.id}' failed and has no content.",
            param="video_id",
            code="video_not_ready" if status is not RemoteState.FAILED else "video_failed",
        )
    expires = job.expires_at()
    if expires is not None and now >= expires:
        raise ApiError(
            status=404,
            message=f"The content of video '{job.id}' has expired.",
            param="video_id",
            code="video_expired",
        )
    drop = ctx.sim.faults.drop_download(job.id, variant)
    if drop:
        ctx.faults.append("drop_download")
    return await content_response(
        ctx.sim.media,
        ctx.sim.media_job(job),
        variant,
        ctx.request.headers.get("range"),
        drop_fraction=ctx.sim.config.faults.drop_after_fraction if drop else None,
    )
