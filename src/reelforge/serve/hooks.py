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
4. the delivery, the status it carried (see below) and a ``note`` in the job's history (what
   the provider said, no secret) are recorded in one transaction, and the job's workflow is
   woken at once.

fal cannot list its requests, so a fal create whose answer was lost waits for a person
(``needs_review``). Its webhook carries the job's token: the note then names the request fal
made for that create, and the command that adopts it (``reelforge reconcile --adopt``).

A verified delivery that says what a status check would is kept as the job's status: Replicate's
body is the prediction (read as a check reads it), fal's says ``OK`` with the result or
``ERROR`` with the error, and the OpenAI protocol's ``video.completed`` says the video is
done. The woken workflow applies that status instead of asking the provider
(:func:`reelforge.engine.logic.poll`); a delivery that says less (the OpenAI protocol's
``video.failed``, which carries no reason, or a body that cannot be read) only wakes it, and
it asks the provider as before. A refusal answers 401 (unsigned, forged,
stale), 400 (signed but unreadable), 413 (too large) or 503 (no secret or keys to check with),
with a JSON ``{"error": ...}``, and counts in ``reelforge_webhook_deliveries_rejected`` by
reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
from reelforge.core.models import RemoteState, RemoteStatus
from reelforge.providers._fal_wire import APP_NAMESPACES, parse_remote_id
from reelforge.providers._fal_wire import _failure as fal_failure
from reelforge.providers._replicate_wire import parse_prediction
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
_MESSAGE_MAX = 500
"""The longest error message kept from a delivery."""

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
    status: RemoteStatus | None = None
    """What the delivery says about the job, as a status check would say it (None: it says
    less, and only wakes the job). fal's is completed with the job's remote id on accept."""


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
            return Delivery(
                id=delivery_id, event=kind, remote_id=video_id, status=openai_status(kind, video_id)
            )

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
                status=fal_status(payload),
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
                status=replicate_status(payload, prediction_id),
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
        unanswered = _fal_request(job.model, delivery.id) if scheme == "fal" and job else None
        status = delivery.status
        if scheme == "fal" and status is not None:
            # fal's body names no remote id: the signed request id, at the job's app.
            remote_id = job.remote_id if job is not None else None
            remote_id = remote_id or unanswered
            status = dataclasses.replace(status, remote_id=remote_id) if remote_id else None
        if status is not None:
            message = (
                f"{scheme} webhook: the provider says {event!r} (the job is "
                f"{status.state.value} there); checking the job now"
            )
        else:
            message = f"{scheme} webhook: the provider says {event!r}; checking the job now"
        data = {"webhook": scheme, "event": event, "delivery_id": delivery.id}
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
            status=status,
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


def openai_status(event: str, video_id: str) -> RemoteStatus | None:
    """What the OpenAI protocol's event says: ``video.completed`` is a completed video (its
    content endpoint is the truth: a download of a video that is not ready fails and is tried
    again); ``video.failed`` carries no reason, so it only wakes the job, which asks."""
    if event != "video.completed":
        return None
    return RemoteStatus(
        remote_id=video_id, state=RemoteState.COMPLETED, progress=100, provider_status=event
    )


def replicate_status(payload: Any, prediction_id: str) -> RemoteStatus | None:
    """Replicate's webhook body is the prediction, read as a status check reads it (None if it
    cannot be read, or names another prediction)."""
    try:
        status = parse_prediction(payload).status
    except ProtocolError:
        return None
    if status.remote_id != prediction_id:
        return None
    return dataclasses.replace(status, input=None, prompt=None)


def fal_status(payload: Any) -> RemoteStatus | None:
    """fal's ``OK`` (the result) is a completed request; ``ERROR`` a failed one, categorized
    as a status check's error would be (``error_type``: content policy, timeout, cancelled).
    The remote id is filled in on accept (fal's body does not carry it)."""
    status = payload.get("status")
    if status == "OK":
        return RemoteStatus(
            remote_id="", state=RemoteState.COMPLETED, progress=100, provider_status="OK"
        )
    if status != "ERROR":
        return None
    body = payload.get("payload")
    body = body if isinstance(body, dict) else {}
    detail = body.get("detail")
    kind = body.get("error_type")
    if not isinstance(kind, str):
        types = (
            {str(item.get("type")) for item in detail if isinstance(item, dict)}
            if isinstance(detail, list)
            else set()
        )
        kind = "content_policy_violation" if "content_policy_violation" in types else None
    kind = _printable(kind, _EVENT_MAX) if kind else None
    error = payload.get("error")
    message = _detail_message(detail) or (_printable(str(error), _MESSAGE_MAX) if error else "")
    state, failure = fal_failure(message or f"the request failed ({kind or 'error'})", kind)
    return RemoteStatus(
        remote_id="",
        state=state,
        progress=0,
        error=failure,
        provider_status=f"ERROR ({kind or 'error'})",
    )


def _detail_message(detail: object) -> str | None:
    """fal's ``detail``: a string, or a list of pydantic problems (their ``msg``)."""
    if isinstance(detail, str):
        return _printable(detail, _MESSAGE_MAX)
    if not isinstance(detail, list):
        return None
    parts = [str(item.get("msg", "")) for item in detail[:3] if isinstance(item, dict)]
    return _printable("; ".join(part for part in parts if part), _MESSAGE_MAX) or None


def _printable(text: str, limit: int) -> str:
    """``text`` on one line, printable characters only, at most ``limit`` long."""
    return "".join(ch for ch in " ".join(text.split()) if ch.isprintable())[:limit]


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
