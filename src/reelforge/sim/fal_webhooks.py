"""fal's webhooks: the ``?fal_webhook=`` URL of a request gets one signed POST when it ends.

Signing follows fal's docs ("Verifying Your Webhook"): an Ed25519 signature, hex in
``X-Fal-Webhook-Signature``, over the UTF-8 message
``request_id \\n user_id \\n timestamp \\n hex(sha256(body))``, with the other three values in
``X-Fal-Webhook-Request-Id``, ``X-Fal-Webhook-User-Id`` and ``X-Fal-Webhook-Timestamp`` (real
Unix seconds). The key pair is derived from the simulator's seed; its public half is served as a
JWKS at :data:`JWKS_PATH`. A delivery that fails (a transport error or a non-2xx answer) is
retried with exponential backoff, at most :data:`MAX_ATTEMPTS` times (fal: "10 times in the span
of 2 hours"); each attempt is logged in ``sim.log.webhooks``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from reelforge.sim.log import WebhookRecord

if TYPE_CHECKING:
    from reelforge.sim.simulator import Simulator
    from reelforge.sim.state import Job

__all__ = ["JWKS_PATH", "MAX_ATTEMPTS", "FalSigner", "WebhookDelivery"]

JWKS_PATH = "/_fal/.well-known/jwks.json"
"""Where the simulator serves the public key (fal: ``https://rest.fal.ai/.well-known/jwks.json``)."""
MAX_ATTEMPTS = 10
TIMEOUT = 15.0
"""Seconds one delivery may take (a secondary source's figure for fal)."""
INTERVAL = 0.05
"""How often finished requests are looked for, in real seconds."""

Payload = Callable[["Job"], Awaitable[dict[str, Any] | None]]
"""The webhook body of a finished request (``None`` while it runs)."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class FalSigner:
    """The simulator's Ed25519 key pair (the same for the same seed)."""

    def __init__(self, seed: int) -> None:
        secret = hashlib.sha256(f"{seed}:fal-webhook-key".encode()).digest()
        self._key = Ed25519PrivateKey.from_private_bytes(secret)
        self._public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.kid = hashlib.sha256(self._public).hexdigest()[:16]

    def jwks(self) -> dict[str, Any]:
        """The public key as fal serves its keys."""
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": _b64url(self._public),
                    "kid": self.kid,
                    "use": "sig",
                    "alg": "EdDSA",
                }
            ]
        }

    def headers(self, request_id: str, user_id: str, body: bytes) -> dict[str, str]:
        """The four ``X-Fal-Webhook-*`` headers for ``body``, timestamped now (real time)."""
        timestamp = str(int(time.time()))
        digest = hashlib.sha256(body).hexdigest()
        message = f"{request_id}\n{user_id}\n{timestamp}\n{digest}".encode()
        return {
            "content-type": "application/json",
            "x-fal-webhook-request-id": request_id,
            "x-fal-webhook-user-id": user_id,
            "x-fal-webhook-timestamp": timestamp,
            "x-fal-webhook-signature": self._key.sign(message).hex(),
        }


class WebhookDelivery:
    """Finds fal requests that ended with a webhook URL and posts their payload once each."""

    def __init__(self, sim: Simulator, signer: FalSigner, payload: Payload) -> None:
        self.sim = sim
        self.signer = signer
        self.payload = payload
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Deliver in the background while the context is open."""
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            loop = asyncio.create_task(self._loop(client))
            try:
                yield
            finally:
                loop.cancel()
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(loop, *self._tasks, return_exceptions=True)

    async def _loop(self, client: httpx.AsyncClient) -> None:
        while True:
            await self.dispatch_due(client)
            await asyncio.sleep(INTERVAL)

    async def dispatch_due(self, client: httpx.AsyncClient) -> list[asyncio.Task[None]]:
        """Start delivering every finished request's webhook not yet sent; the deliveries."""
        started: list[asyncio.Task[None]] = []
        for job in self.sim.store.jobs:
            url = job.data.get("webhook")
            if job.protocol != "fal" or not url or job.data.get("webhook_sent"):
                continue
            payload = await self.payload(job)
            if payload is None:
                continue
            job.data["webhook_sent"] = True
            task = asyncio.create_task(self._deliver(client, str(url), job, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started.append(task)
        return started

    async def _deliver(
        self, client: httpx.AsyncClient, url: str, job: Job, payload: dict[str, Any]
    ) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        user_id = str(job.data.get("user_id", ""))
        for attempt in range(1, MAX_ATTEMPTS + 1):
            status: int | None = None
            error: str | None = None
            try:
                headers = self.signer.headers(job.id, user_id, body)
                response = await client.post(url, content=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.sim.log.webhooks.append(
                WebhookRecord(
                    event_id=job.id,
                    event_type=f"fal.{payload['status']}",
                    video_id=job.id,
                    url=url,
                    attempt=attempt,
                    at=self.sim.now(),
                    status_code=status,
                    error=error,
                )
            )
            if status is not None and 200 <= status < 300:
                return
            await asyncio.sleep(min(0.25 * 2 ** (attempt - 1), 10.0))
