"""The Starlette app: authentication, limits, injected faults, headers and the request log
around every ``/v1`` handler, plus the ``/_sim`` inspection routes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reelforge.core.models import Variant
from reelforge.sim import fal, llm, replicate, runway, vertex, videos
from reelforge.sim.log import RequestRecord, api_key_id
from reelforge.sim.protocol import ApiError, server_error
from reelforge.sim.routing import Authenticate, Endpoint, Handler, RenderError
from reelforge.sim.videos import Ctx
from reelforge.sim.webhooks import WebhookSender

if TYPE_CHECKING:
    from reelforge.sim.simulator import Simulator

__all__ = ["create_app"]

_logger = logging.getLogger("reelforge.sim")


_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _authenticate(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(status=401, message=_NO_KEY)
    return api_key_id(key.strip())


def _endpoint(
    sim: Simulator,
    handler: Handler,
    *,
    creates: bool = False,
    authenticate: Authenticate = _authenticate,
    render_error: RenderError | None = None,
    openai_headers: bool = True,
) -> Endpoint:
    """Wrap ``handler`` with auth, limits, faults, the protocol's headers and the request log.

    Each protocol passes its own ``authenticate`` (scheme, 401 body) and ``render_error`` (its
    error envelope); ``openai_headers`` adds ``openai-processing-ms``.
    """

    async def run(request: Request) -> Response:
        started = time.perf_counter()
        request_id = f"req_{uuid.uuid4().hex}"
        key_id: str | None = None
        faults: list[str] = []
        limit_headers: dict[str, str] = {}
        ctx: Ctx | None = None
        try:
            key_id = authenticate(request)
            limit_headers, limited = sim.limiter.hit(key_id, sim.now())
            if limited is not None:
                raise limited
            injected = sim.faults.rate_limit(sim.now())
            if injected is not None:
                raise injected
            delay = sim.faults.slow()
            if delay > 0:
                faults.append("slow")
                await asyncio.sleep(delay)
            if not creates:
                failure = sim.faults.server_error()
                if failure is not None:
                    raise failure
            ctx = Ctx(sim=sim, request=request, request_id=request_id, api_key_id=key_id)
            ctx.faults = faults
            response = await handler(ctx)
        except ApiError as exc:
            if exc.fault is not None:
                faults.append(exc.fault)
            response = exc.response() if render_error is None else render_error(exc)
        except Exception:
            _logger.exception("simulator handler failed on %s %s", request.method, request.url.path)
            failure = server_error(500, "unexpected")
            response = failure.response() if render_error is None else render_error(failure)
        response.headers["x-request-id"] = request_id
        if openai_headers:
            elapsed = int((time.perf_counter() - started) * 1000)
            response.headers["openai-processing-ms"] = str(elapsed)
        for name, value in limit_headers.items():
            response.headers[name] = value
        sim.log.requests.append(
            RequestRecord(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                status_code=response.status_code,
                request_id=request_id,
                api_key_id=key_id,
                at=sim.now(),
                fault="+".join(faults) if faults else None,
                video_status=ctx.video_status if ctx is not None else None,
            )
        )
        return response

    return run


async def _invalid_url(ctx: Ctx) -> Response:
    request = ctx.request
    raise ApiError(status=404, message=f"Invalid URL ({request.method} {request.url.path})")


def _sim_routes(sim: Simulator) -> list[Route]:
    async def log(_: Request) -> Response:
        return JSONResponse(sim.log.to_json())

    async def all_videos(_: Request) -> Response:
        return JSONResponse([dataclasses.asdict(view) for view in sim.videos.values()])

    async def one_video(request: Request) -> Response:
        try:
            view = sim.video(request.path_params["video_id"])
        except KeyError:
            return JSONResponse({"error": "unknown video"}, status_code=404)
        return JSONResponse(dataclasses.asdict(view))

    async def sha256(request: Request) -> Response:
        video_id = request.path_params["video_id"]
        raw = request.query_params.get("variant", Variant.VIDEO.value)
        try:
            variant = Variant(raw)
        except ValueError:
            return JSONResponse({"error": f"unknown variant {raw!r}"}, status_code=400)
        try:
            digest = await asyncio.to_thread(sim.asset_sha256, video_id, variant)
            size = await asyncio.to_thread(sim.asset_size, video_id, variant)
        except KeyError:
            return JSONResponse({"error": "unknown video"}, status_code=404)
        return JSONResponse(
            {"video_id": video_id, "variant": variant.value, "sha256": digest, "size": size}
        )

    async def reset(_: Request) -> Response:
        sim.reset()
        return JSONResponse({"reset": True})

    async def advance(request: Request) -> Response:
        try:
            seconds = float(request.query_params.get("seconds", "0"))
            sim.advance(seconds)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"now": sim.now()})

    async def in_flight(request: Request) -> Response:
        key = request.query_params.get("api_key_id")
        return JSONResponse({"max_in_flight_seen": sim.max_in_flight_seen(key)})

    return [
        Route("/_sim/log", log, methods=["GET"]),
        Route("/_sim/videos", all_videos, methods=["GET"]),
        Route("/_sim/videos/{video_id}", one_video, methods=["GET"]),
        Route("/_sim/videos/{video_id}/sha256", sha256, methods=["GET"]),
        Route("/_sim/max_in_flight", in_flight, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/advance", advance, methods=["POST"]),
    ]


def create_app(sim: Simulator) -> Starlette:
    """The ASGI app of ``sim``; its lifespan runs the webhook sender when webhooks are set."""

    def ep(handler: Handler, *, creates: bool = False) -> Endpoint:
        return _endpoint(sim, handler, creates=creates)

    def wrap(
        handler: Handler,
        *,
        creates: bool = False,
        authenticate: Authenticate,
        render_error: RenderError,
    ) -> Endpoint:
        return _endpoint(
            sim,
            handler,
            creates=creates,
            authenticate=authenticate,
            render_error=render_error,
            openai_headers=False,
        )

    routes = [
        Route("/v1/videos", ep(videos.create, creates=True), methods=["POST"]),
        Route("/v1/videos", ep(videos.list_videos), methods=["GET"]),
        Route("/v1/videos/edits", ep(videos.edit, creates=True), methods=["POST"]),
        Route("/v1/videos/extensions", ep(videos.extend, creates=True), methods=["POST"]),
        Route("/v1/videos/{video_id}", ep(videos.retrieve), methods=["GET"]),
        Route("/v1/videos/{video_id}", ep(videos.delete), methods=["DELETE"]),
        Route("/v1/videos/{video_id}/remix", ep(videos.remix, creates=True), methods=["POST"]),
        Route("/v1/videos/{video_id}/content", ep(videos.content), methods=["GET"]),
        Route("/v1/responses", ep(llm.responses), methods=["POST"]),
        Route("/v1/moderations", ep(llm.moderations), methods=["POST"]),
        *replicate.routes(sim, wrap),
        *vertex.routes(sim, wrap),
        *vertex.token_routes(sim),
        *runway.routes(sim, wrap),
        *_sim_routes(sim),
        *fal.sim_routes(sim),
        Route("/v1/{path:path}", ep(_invalid_url), methods=_ALL_METHODS),
        # fal's queue paths (/{owner}/{app}/...) are caught last: everything else is routed.
        *fal.routes(sim, wrap),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if sim.config.webhooks is not None:
                sender = WebhookSender(sim, sim.config.webhooks)
                await stack.enter_async_context(sender.running())
            await stack.enter_async_context(fal.running(sim))
            await stack.enter_async_context(replicate.running(sim))
            yield

    return Starlette(routes=routes, lifespan=lifespan)
