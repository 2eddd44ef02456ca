"""The providers' incoming webhooks: ``POST /hooks/openai``, ``/hooks/fal`` and
``/hooks/replicate``.

Each delivery goes through the same steps, and stops at the first that fails:

1. its timestamp is within 5 minutes of now and its signature verifies over the exact bytes
   received (:mod:`reelforge.serve._hooks_verify`), the body read up to :data:`MAX_BODY`;
   only then is the body parsed;
2. it is looked up by its delivery id (``webhook-id``; fal's request id): one already accepted
   is acknowledged (200, ``duplicate``) and changes nothing;
3. the job it names is found by the submission token in the URL's query (fal, Replicate) or
   the provider's id in the body (the OpenAI protocol's ``data.id``); a job that is not ours
   is acknowledged (200, ``ignored``) and nothing is written to any job;
4. the delivery and a ``note`` in the job's history (what the provider said, no secret) are
   recorded in one transaction, and the job's workflow is woken at once.

fal cannot list its requests, so a fal create whose answer was lost waits for a person
(``needs_review``). Its webhook carries the job's token: the note then names the request fal
made for that create, and the command that adopts it (``reelforge reconcile --adopt``).

The webhook is a hint: the woken workflow asks the provider for the job's status, and that
answer, not the webhook's body, moves the job. A refusal answers 401 (unsigned, forged,
stale), 400 (signed but unreadable), 413 (too large) or 503 (no secret or keys to check with),
with a JSON ``{"error": ...}``, and counts in ``reelforge_webhook_deliveries_rejected`` by
reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reelforge.core.errors import ProtocolError
from reelforge.providers._fal_wire import APP_NAMESPACES, parse_remote_id
from reelforge.serve._hooks_keys import FalKeys, HookSettings, ReplicateSecret
from reelforge.serve._hooks_verify import (
    Reason,
    Rejected,
    fal_headers,
    standard_headers,
    standard_signer,
    verify_fal,
    verify_standard,
)
from reelforge.serve.metrics import WEBHOOKS_RECEIVED, WEBHOOKS_REJECTED
from reelforge.serve.state import ServeState
from reelforge.store import webhooks as deliveries

__all__ = ["MAX_BODY", "Receivers", "routes"]

MAX_BODY = 1024 * 1024
"""The largest body accepted, in bytes (a Replicate prediction with its logs fits)."""
OPENAI_EVENTS = frozenset({"video.completed", "video.failed"})
"""The OpenAI protocol's events that end a job (others are acknowledged and ignored)."""

_EVENT_MAX = 64
"""The longest provider status word kept in a note."""

_log = logging.getLogger("reelforge.serve.hooks")


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    """What a verified delivery says, in our terms."""

    id: str
    """The sender's delivery id (the dedupe key)."""
    event: str
    """The provider's word for what happened (``video.completed``, ``OK``, ``succeeded``)."""
    remote_id: str | None = None
    token: str | None = None


class Receivers:
    """The three receivers of one application, with the keys they check signatures with.

    ``settings`` default to the environment's; ``transport`` carries the fetches of fal's keys
    and Replicate's secret (tests point it anywhere); ``now`` is the clock of the timestamp
    window.
    """

    def __init__(
        self,
        state: ServeState,
        *,
        settings: HookSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.settings = settings or HookSettings()
        self.now = now
        self.fal_keys = FalKeys(self.settings.fal_jwks_url, transport=transport, now=now)
        self.replicate_secret = ReplicateSecret(self.settings, transport=transport, now=now)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/hooks/openai", self.openai, methods=["POST"]),
            Route("/hooks/fal", self.fal, methods=["POST"]),
            Route("/hooks/replicate", self.replicate, methods=["POST"]),
        ]

    # -- the schemes ------------------------------------------------------------------------

    async def openai(self, request: Request) -> Response:
        """Standard Webhooks with ``OPENAI_WEBHOOK_SECRET``; ``data.id`` is the video's id."""

        async def check() -> tuple[str, bytes]:
            secret = self.settings.openai_secret
            if secret is None:
                raise Rejected(Reason.NOT_CONFIGURED, "OPENAI_WEBHOOK_SECRET is not set")
            headers = standard_headers(request.headers, now=self.now())
            body = await _body(request)
            verify_standard([standard_signer(secret.get_secret_value())], headers, body)
            return headers.id, body

        def read(delivery_id: str, payload: Any) -> Delivery | None:
            kind = payload.get("type")
            data = payload.get("data")
            video_id = data.get("id") if isinstance(data, dict) else None
            if not isinstance(kind, str) or not isinstance(video_id, str) or not video_id:
                raise Rejected(Reason.MALFORMED, "not an event with a type and data.id")
            if kind not in OPENAI_EVENTS:
                return None
            return Delivery(id=delivery_id, event=kind, remote_id=video_id)

        return await self._receive(request, "openai", check, read)

    async def fal(self, request: Request) -> Response:
        """Ed25519 over fal's message, keys from its JWKS; the URL carries the job's token."""
        request_ids: dict[str, str] = {}

        async def check() -> tuple[str, bytes]:
            headers = fal_headers(request.headers, now=self.now())
            body = await _body(request)
            try:
                verify_fal(await self.fal_keys.keys(), headers, body)
            except Rejected as exc:
                if exc.reason is not Reason.BAD_SIGNATURE:
                    raise
                verify_fal(await self.fal_keys.keys(refresh=True), headers, body)
            request_ids["id"] = headers.request_id
            return headers.request_id, body

        def read(delivery_id: str, payload: Any) -> Delivery | None:
            status = payload.get("status")
            if payload.get("request_id") != request_ids["id"] or not isinstance(status, str):
                raise Rejected(Reason.MALFORMED, "not fal's payload for the signed request")
            return Delivery(
                id=delivery_id,
                event=status,
                token=request.query_params.get("token"),
                remote_id=None,
            )

        return await self._receive(request, "fal", check, read)

    async def replicate(self, request: Request) -> Response:
        """Standard Webhooks with the account's secret; the body is the prediction."""

        async def check() -> tuple[str, bytes]:
            headers = standard_headers(request.headers, now=self.now())
            body = await _body(request)
            try:
                verify_standard([await self.replicate_secret.signer()], headers, body)
            except Rejected as exc:
                if exc.reason is not Reason.BAD_SIGNATURE:
                    raise
                signer = await self.replicate_secret.signer(refresh=True)
                verify_standard([signer], headers, body)
            return headers.id, body

        def read(delivery_id: str, payload: Any) -> Delivery | None:
            prediction_id = payload.get("id")
            status = payload.get("status")
            if not isinstance(prediction_id, str) or not prediction_id:
                raise Rejected(Reason.MALFORMED, "not a prediction with an id")
            return Delivery(
                id=delivery_id,
                event=status if isinstance(status, str) else "unknown",
                remote_id=prediction_id,
                token=request.query_params.get("token"),
            )

        return await self._receive(request, "replicate", check, read)

    # -- the steps every scheme shares ------------------------------------------------------

    async def _receive(
        self,
        request: Request,
        scheme: str,
        check: Callable[[], Awaitable[tuple[str, bytes]]],
        read: Callable[[str, Any], Delivery | None],
    ) -> Response:
        try:
            delivery_id, body = await check()
            try:
                payload = json.loads(body)
            except ValueError:
                raise Rejected(Reason.MALFORMED, "the body is not JSON") from None
            if not isinstance(payload, dict):
                raise Rejected(Reason.MALFORMED, "the body is not a JSON object")
            delivery = read(delivery_id, payload)
        except Rejected as exc:
            WEBHOOKS_REJECTED.labels(scheme=scheme, reason=exc.reason.value).inc()
            _log.warning("refused a %s webhook delivery (%s): %s", scheme, exc.reason, exc)
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        WEBHOOKS_RECEIVED.labels(scheme=scheme).inc()
        if delivery is None:
            return JSONResponse({"status": "ignored"})
        return JSONResponse({"status": await self._accept(scheme, delivery)})

    async def _accept(self, scheme: str, delivery: Delivery) -> str:
        """Record the delivery and wake its job: ``accepted``, ``duplicate`` or ``ignored``."""
        store = self.state.store
        if await asyncio.to_thread(deliveries.seen, store, scheme, delivery.id):
            return "duplicate"
        job = await asyncio.to_thread(
            deliveries.find_job, store, token=delivery.token, remote_id=delivery.remote_id
        )
        if (
            scheme == "fal"
            and job is not None
            and job.remote_id is not None
            and job.remote_id.rpartition("/requests/")[2] != delivery.id
        ):
            job = None  # the token names a job, but the signed request is not that job's
        event = delivery.event[:_EVENT_MAX]
        message = f"{scheme} webhook: the provider says {event!r}; checking the job now"
        data = {"webhook": scheme, "event": event, "delivery_id": delivery.id}
        unanswered = _fal_request(job.model, delivery.id) if scheme == "fal" and job else None
        if job is not None and job.remote_id is None and unanswered is not None:
            message = (
                f"fal webhook: fal made request {unanswered} for this job's create, whose answer "
                f"was lost (it says {event!r}); adopt it with `reelforge reconcile "
                f"--adopt {job.id} {unanswered}`"
            )
            data["request"] = unanswered
        recorded = await asyncio.to_thread(
            deliveries.record_delivery,
            store,
            scheme=scheme,
            delivery_id=delivery.id,
            job_id=job.id if job is not None else None,
            message=message,
            data=data,
        )
        if not recorded:
            return "duplicate"
        if job is None:
            return "ignored"
        try:
            await self.state.wake(job.id)
        except Exception:  # a failed wake must not refuse the delivery: the safety net polls
            _log.exception("could not wake the workflow of job %s", job.id)
        return "accepted"


def _fal_request(endpoint_id: str, request_id: str) -> str | None:
    """The remote id of fal's request ``request_id`` at the app of ``endpoint_id``
    (``owner/app/requests/<id>``), or None if they do not make one."""
    segments = endpoint_id.split("/")
    app = "/".join(segments[: 3 if segments[0] in APP_NAMESPACES else 2])
    try:
        return parse_remote_id(f"{app}/requests/{request_id}").remote_id
    except ProtocolError:
        return None


async def _body(request: Request) -> bytes:
    """The request's body, at most :data:`MAX_BODY` bytes (413 beyond)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise Rejected(Reason.TOO_LARGE, f"the body is over {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Rejected(Reason.TOO_LARGE, f"the body is over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def routes(state: ServeState) -> list[BaseRoute]:
    """The webhook receivers, checking signatures with the environment's secrets and keys."""
    return Receivers(state).routes()
