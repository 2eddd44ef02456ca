"""fal webhooks from the simulator served on loopback: signed as fal documents, verifiable with
the JWKS the simulator serves, retried after a failed delivery, logged."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from simkit import ThreadedServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reelforge.sim import EmbeddedSimulator, SimConfig
from reelforge.sim.fal_webhooks import JWKS_PATH

FAL_KEY = "key-id:key-secret"


class Receiver:
    """Records every webhook; answers 500 to the first ``fail_first`` deliveries."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.received.append((dict(request.headers), body))
            failing = len(self.received) <= self.fail_first
        return Response(status_code=500 if failing else 200)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")


def verify(jwks: dict[str, Any], headers: dict[str, str], body: bytes) -> bool:
    message = "\n".join(
        [
            headers["x-fal-webhook-request-id"],
            headers["x-fal-webhook-user-id"],
            headers["x-fal-webhook-timestamp"],
            hashlib.sha256(body).hexdigest(),
        ]
    ).encode()
    signature = bytes.fromhex(headers["x-fal-webhook-signature"])
    for key in jwks["keys"]:
        raw = base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


def test_signed_webhook_verifies_against_the_served_jwks_after_a_retry() -> None:
    receiver = Receiver(fail_first=1)
    config = SimConfig(time_scale=2000, media_scale=0.125, fps=2, seed=3)
    with ThreadedServer(receiver.app) as hooks, EmbeddedSimulator(config) as emb:
        with httpx.Client(base_url=emb.url, headers={"Authorization": f"Key {FAL_KEY}"}) as c:
            submitted = c.post(
                "/fal-ai/veo3.1/fast",
                params={"fal_webhook": f"{hooks.url}/hook"},
                json={"prompt": "a paper boat on a river", "duration": "4s"},
            ).json()
            jwks = c.get(JWKS_PATH).json()
        deliveries = receiver.wait_for(2)
        # The sender logs a delivery once the receiver's answer is back: a moment later.
        deadline = time.monotonic() + 20
        while len(emb.sim.log.webhooks) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        log = list(emb.sim.log.webhooks)
    (_first_headers, first_body), (headers, body) = deliveries
    assert first_body == body
    assert headers["x-fal-webhook-request-id"] == submitted["request_id"]
    assert abs(int(headers["x-fal-webhook-timestamp"]) - time.time()) < 300
    assert verify(jwks, headers, body)
    tampered = body.replace(b'"OK"', b'"ER"')
    assert not verify(jwks, headers, tampered)
    payload = json.loads(body)
    assert payload["status"] == "OK"
    assert payload["request_id"] == payload["gateway_request_id"] == submitted["request_id"]
    assert payload["payload"]["video"]["url"].startswith(emb.url)
    assert [(r.attempt, r.status_code) for r in log] == [(1, 500), (2, 200)]
    assert {r.video_id for r in log} == {submitted["request_id"]}
    assert jwks["keys"][0]["kty"] == "OKP"
    assert jwks["keys"][0]["crv"] == "Ed25519"


def test_failed_request_webhook_is_an_error_with_the_fal_body() -> None:
    receiver = Receiver(fail_first=0)
    faults = {"moderation_patterns": ["forbidden"]}
    config = SimConfig(time_scale=2000, media_scale=0.125, fps=2, faults=faults)
    with ThreadedServer(receiver.app) as hooks, EmbeddedSimulator(config) as emb:
        with httpx.Client(base_url=emb.url, headers={"Authorization": f"Key {FAL_KEY}"}) as c:
            c.post(
                "/fal-ai/veo3.1/fast",
                params={"fal_webhook": f"{hooks.url}/hook"},
                json={"prompt": "a forbidden thing"},
            ).raise_for_status()
        [(_, body)] = receiver.wait_for(1)
    payload = json.loads(body)
    assert payload["status"] == "ERROR"
    assert payload["error"] == "Invalid status code: 422"
    assert payload["payload"]["detail"][0]["type"] == "content_policy_violation"
