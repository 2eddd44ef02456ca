"""Replicate's webhooks: the prediction object POSTed to the ``webhook`` a create named, on the
events of its ``webhook_events_filter``, signed per Standard Webhooks with the secret
``GET /v1/webhooks/default/secret`` gives the creating key.

Status is computed lazily, so a background task (started by the app's lifespan) looks for due
events. ``start`` is sent once the prediction runs, ``completed`` once it is terminal (``output``
alone also fires at success, the only time a video model has output; ``logs`` is never sent).
Each payload is the prediction as it was when the event happened. An event keeps its
``webhook-id`` across retries; every attempt is logged in ``sim.log.webhooks``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from standardwebhooks import Webhook

from reelforge.sim.log import WebhookRecord
from reelforge.sim.replicate_wire import (
    PredictionStatus,
    completed_at,
    prediction_json,
    prediction_status,
)
from reelforge.sim.state import Job

if TYPE_CHECKING:
    from reelforge.sim.simulator import Simulator

__all__ = ["ReplicateWebhooks", "due_events", "webhook_secret"]


def webhook_secret(sim: Simulator, api_key_id: str) -> str:
    """The signing secret of a key: ``whsec_`` + base64 of 32 bytes derived from the seed."""
    raw = hashlib.sha256(f"{sim.config.seed}:replicate-webhook:{api_key_id}".encode()).digest()
    return "whsec_" + base64.b64encode(raw).decode("ascii")


def due_events(job: Job, now: float) -> list[tuple[str, float]]:
    """The events of ``job`` that have happened by ``now`` and are wanted, with their times."""
    events = job.data.get("webhook_events_filter") or []
    due: list[tuple[str, float]] = []
    status = prediction_status(job, now)
    ran = job.canceled_at is None or job.canceled_at > job.started_at
    if "start" in events and now >= job.started_at and ran:
        due.append(("start", job.started_at))
    done = completed_at(job, now)
    if done is not None and (
        "completed" in events or ("output" in events and status is PredictionStatus.SUCCEEDED)
    ):
        due.append(("completed", done))
    return due


class ReplicateWebhooks:
    """Finds due webhook events and delivers them; run it with :meth:`running`."""

    def __init__(self, sim: Simulator, *, retention: Callable[[Simulator], float]) -> None:
        self.sim = sim
        self.config = sim.config.replicate
        self._retention = retention
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Deliver in the background for as long as the context is open."""
        async with httpx.AsyncClient(timeout=self.config.webhook_timeout) as client:
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
            self.dispatch_due(client)
            await asyncio.sleep(self.config.webhook_interval)

    def dispatch_due(self, client: httpx.AsyncClient) -> int:
        """Start delivering every event that became due since the last look."""
        now = self.sim.now()
        started = 0
        for job in self.sim.store.jobs:
            url = job.data.get("webhook") if job.protocol == "replicate" else None
            if not url:
                continue
            sent: set[str] = job.data.setdefault("webhooks_sent", set())
            for event, at in due_events(job, now):
                if event in sent:
                    continue
                sent.add(event)
                payload = prediction_json(
                    job, at, retention=self._retention(self.sim), seed=self.sim.config.seed
                )
                task = asyncio.create_task(self._deliver(client, job, str(url), event, payload))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                started += 1
        return started

    def sign(self, secret: str, message_id: str, body: str) -> dict[str, str]:
        """Standard Webhooks headers for ``body``, timestamped with the real time of sending."""
        sent = datetime.fromtimestamp(int(time.time()), tz=UTC)
        return {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent.timestamp())),
            "webhook-signature": str(Webhook(secret).sign(message_id, sent, body)),
        }

    async def _deliver(
        self, client: httpx.AsyncClient, job: Job, url: str, event: str, payload: dict[str, Any]
    ) -> None:
        body = json.dumps(payload, separators=(",", ":"))
        digest = hashlib.sha256(f"{self.sim.config.seed}:{job.id}:{event}".encode()).hexdigest()
        message_id = f"msg_{digest[:27]}"
        secret = webhook_secret(self.sim, job.api_key_id)
        for attempt in range(1, self.config.webhook_max_attempts + 1):
            status: int | None = None
            error: str | None = None
            try:
                response = await client.post(
                    url, content=body, headers=self.sign(secret, message_id, body)
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.sim.log.webhooks.append(
                WebhookRecord(
                    event_id=message_id,
                    event_type=event,
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
