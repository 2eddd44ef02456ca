"""Outgoing ``video.completed`` / ``video.failed`` events, signed per Standard Webhooks.

Job status is computed lazily, so a small background task (started by the app's lifespan)
looks for jobs that reached a terminal state and posts one event per job to every configured
URL, retrying with exponential backoff. Each attempt is logged in ``sim.log.webhooks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from standardwebhooks import Webhook

from reelforge.core.models import RemoteState
from reelforge.sim.config import WebhookConfig
from reelforge.sim.log import WebhookRecord
from reelforge.sim.state import Job

if TYPE_CHECKING:
    from reelforge.sim.simulator import Simulator

__all__ = ["WebhookSender", "event_for"]


def event_for(job: Job, seed: int, now: float) -> dict[str, Any] | None:
    """The event a finished job sends, or ``None`` while it runs (or if it was deleted first)."""
    status, _ = job.status(now)
    if not status.is_terminal:
        return None
    if job.deleted_at is not None and job.deleted_at < job.finished_at:
        return None
    kind = "video.completed" if status is RemoteState.COMPLETED else "video.failed"
    digest = hashlib.sha256(f"{seed}:{job.id}:{kind}".encode()).hexdigest()[:32]
    return {
        "object": "event",
        "id": f"evt_{digest}",
        "type": kind,
        "created_at": int(job.finished_at),
        "data": {"id": job.id},
    }


class WebhookSender:
    """Finds finished jobs and delivers their events; run it with :meth:`running`."""

    def __init__(self, sim: Simulator, config: WebhookConfig) -> None:
        self.sim = sim
        self.config = config
        self._signer = Webhook(config.secret)
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Deliver in the background for as long as the context is open."""
        async with httpx.AsyncClient(timeout=self.config.timeout) as client:
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
            await asyncio.sleep(self.config.interval)

    def dispatch_due(self, client: httpx.AsyncClient) -> int:
        """Start delivering the events of jobs that finished since the last look."""
        now = self.sim.now()
        started = 0
        for job in self.sim.store.jobs:
            if job.protocol != "openai" or job.webhook_sent or job.finished_at > now:
                continue  # fal and Replicate jobs send their own protocol's webhooks
            job.webhook_sent = True
            event = event_for(job, self.sim.config.seed, now)
            if event is None:
                continue
            for url in self.config.urls:
                task = asyncio.create_task(self._deliver(client, url, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                started += 1
        return started

    def sign(self, event_id: str, body: str) -> dict[str, str]:
        """Standard Webhooks headers for ``body`` (timestamped with the real time of sending)."""
        sent = datetime.fromtimestamp(int(time.time()), tz=UTC)
        return {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(int(sent.timestamp())),
            "webhook-signature": str(self._signer.sign(event_id, sent, body)),
        }

    async def _deliver(self, client: httpx.AsyncClient, url: str, event: dict[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":"))
        for attempt in range(1, self.config.max_attempts + 1):
            status: int | None = None
            error: str | None = None
            try:
                response = await client.post(
                    url, content=body, headers=self.sign(event["id"], body)
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.sim.log.webhooks.append(
                WebhookRecord(
                    event_id=event["id"],
                    event_type=event["type"],
                    video_id=event["data"]["id"],
                    url=url,
                    attempt=attempt,
                    at=self.sim.now(),
                    status_code=status,
                    error=error,
                )
            )
            if status is not None and (200 <= status < 300 or status == 410):
                return
            await asyncio.sleep(min(0.25 * 2 ** (attempt - 1), 10.0))
