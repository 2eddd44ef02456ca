"""Outgoing webhooks: signed Standard Webhooks events for finished jobs, retried on failure."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import httpx
import pytest
from simkit import ThreadedServer
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig, WebhookConfig
from reelforge.sim.state import Job
from reelforge.sim.webhooks import event_for

pytestmark = pytest.mark.slow

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


class Receiver:
    """Records every delivery; answers 500 to the first ``fail_first`` deliveries."""

    def __init__(self, fail_first: int = 0) -> None:
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        self.fail_first = fail_first
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        self.deliveries.append((await request.body(), dict(request.headers)))
        if len(self.deliveries) <= self.fail_first:
            return Response(status_code=500)
        return Response(status_code=204)

    def verified(self) -> list[dict[str, Any]]:
        events = []
        for body, headers in self.deliveries:
            payload: dict[str, Any] = Webhook(SECRET).verify(body, headers)
            events.append(payload)
        return events


def _wait(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _config(url: str) -> SimConfig:
    return SimConfig(
        time_scale=3000,
        media_scale=0.125,
        faults=FaultConfig(moderation_patterns=("forbidden",)),
        webhooks=WebhookConfig(urls=(f"{url}/hook",), secret=SECRET, interval=0.05),
    )


def test_completed_and_failed_events_are_signed() -> None:
    receiver = Receiver()
    with (
        ThreadedServer(receiver.app) as hook_server,
        EmbeddedSimulator(_config(hook_server.url)) as emb,
    ):
        with httpx.Client(base_url=emb.base_url, headers={"Authorization": "Bearer k"}) as c:
            ok = c.post("/videos", json={"prompt": "a quiet lake"}).json()
            bad = c.post("/videos", json={"prompt": "something forbidden"}).json()
        _wait(lambda: len(receiver.deliveries) >= 2 and len(emb.sim.log.webhooks) >= 2)
        time.sleep(0.2)  # nothing else arrives
        log = list(emb.sim.log.webhooks)
    events = {event["data"]["id"]: event for event in receiver.verified()}
    assert len(receiver.deliveries) == 2
    assert events[ok["id"]]["type"] == "video.completed"
    assert events[bad["id"]]["type"] == "video.failed"
    for event in events.values():
        assert event["object"] == "event"
        assert event["id"].startswith("evt_")
        assert isinstance(event["created_at"], int)
    _, headers = receiver.deliveries[0]
    assert headers["webhook-id"].startswith("evt_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["webhook-signature"].startswith("v1,")
    assert {(r.status_code, r.attempt) for r in log} == {(204, 1)}


def test_a_tampered_body_does_not_verify() -> None:
    receiver = Receiver()
    with (
        ThreadedServer(receiver.app) as hook_server,
        EmbeddedSimulator(_config(hook_server.url)) as emb,
    ):
        with httpx.Client(base_url=emb.base_url, headers={"Authorization": "Bearer k"}) as c:
            c.post("/videos", json={"prompt": "p"})
        _wait(lambda: len(receiver.deliveries) >= 1)
    body, headers = receiver.deliveries[0]
    tampered = body.replace(b"video.completed", b"video.failed")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, headers)
    assert json.loads(body)["type"] == "video.completed"


def test_failed_delivery_is_retried_with_the_same_id() -> None:
    receiver = Receiver(fail_first=2)
    with (
        ThreadedServer(receiver.app) as hook_server,
        EmbeddedSimulator(_config(hook_server.url)) as emb,
    ):
        with httpx.Client(base_url=emb.base_url, headers={"Authorization": "Bearer k"}) as c:
            c.post("/videos", json={"prompt": "p"})
        # The simulator logs a delivery after the receiver has answered it: wait for both.
        _wait(lambda: len(receiver.deliveries) >= 3 and len(emb.sim.log.webhooks) >= 3)
        log = list(emb.sim.log.webhooks)
    assert len({headers["webhook-id"] for _, headers in receiver.deliveries}) == 1
    assert [(r.attempt, r.status_code) for r in log] == [(1, 500), (2, 500), (3, 204)]
    assert len(receiver.verified()) == 3


def test_no_event_while_running_or_for_a_job_deleted_first() -> None:
    job = Job(
        id="video_1",
        seq=0,
        api_key_id="k",
        prompt="p",
        model="sora-2",
        seconds=4,
        size="720x1280",
        created_at=0.0,
        started_at=1.0,
        finished_at=10.0,
    )
    assert event_for(job, seed=0, now=5.0) is None
    event = event_for(job, seed=0, now=11.0)
    assert event is not None
    assert event["type"] == "video.completed"
    assert event["created_at"] == 10
    job.deleted_at = 5.0
    assert event_for(job, seed=0, now=11.0) is None
