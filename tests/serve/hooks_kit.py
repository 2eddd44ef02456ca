"""Signing webhook deliveries as each provider does (the real algorithms), a store holding one
submitted job per provider, and a ServeState that records the wakes it is asked for."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from standardwebhooks import Webhook

from reelforge.core.models import JobSpec, JobState
from reelforge.serve import ServeState
from reelforge.store import EventRow, JobRow, NewJob, Store

__all__ = [
    "OPENAI_SECRET",
    "REPLICATE_SECRET",
    "FalKey",
    "RecordingState",
    "Submitted",
    "body_of",
    "snapshot",
    "standard_headers",
    "submit_job",
]

OPENAI_SECRET = "whsec_" + base64.b64encode(b"openai-test-secret-0123456789ab").decode()
REPLICATE_SECRET = "whsec_" + base64.b64encode(b"replicate-test-secret-012345678").decode()


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def standard_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, at: float | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for ``body`` signed with ``secret`` at ``at`` (now)."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    sent = datetime.fromtimestamp(int(time.time() if at is None else at), tz=UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, sent, body),
    }


class FalKey:
    """An Ed25519 key pair signing as fal does, and its JWKS."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": self.x, "kid": "test"}]}

    def headers(
        self, request_id: str, body: bytes, *, user_id: str = "user-1", at: float | None = None
    ) -> dict[str, str]:
        stamp = str(int(time.time() if at is None else at))
        message = f"{request_id}\n{user_id}\n{stamp}\n{hashlib.sha256(body).hexdigest()}"
        return {
            "content-type": "application/json",
            "x-fal-webhook-request-id": request_id,
            "x-fal-webhook-user-id": user_id,
            "x-fal-webhook-timestamp": stamp,
            "x-fal-webhook-signature": self._key.sign(message.encode()).hex(),
        }


@dataclass
class RecordingState(ServeState):
    """A ServeState whose wakes are recorded instead of sent to a workflow."""

    woken: list[str] = field(default_factory=list)

    async def wake(self, job_id: str) -> str | None:
        self.woken.append(job_id)
        return None


@dataclass(frozen=True)
class Submitted:
    """A job the store holds as created on its provider."""

    job: JobRow
    token: str
    remote_id: str


def submit_job(store: Store, key: str, remote_id: str) -> Submitted:
    """Add a job to the ``hooks`` batch and record it created as ``remote_id``."""
    store.upsert_batch("hooks", name="hooks", out_dir="out")
    position = len(store.jobs("hooks"))
    spec = JobSpec(prompt=f"a lighthouse at dusk, take {key}", model="sora-2")
    store.add_jobs("hooks", [NewJob(key=key, spec=spec, position=position)])
    job = next(job for job in store.jobs("hooks") if job.key == key)
    store.transition(job.id, JobState.WAITING)
    token = store.record_intent(job.id)
    assert store.record_remote_id(job.id, token, remote_id)
    return Submitted(job=store.get_job(job.id), token=token, remote_id=remote_id)


def snapshot(store: Store) -> tuple[list[EventRow], list[JobRow]]:
    """Every event and every job row: equal snapshots mean nothing changed."""
    return store.events_after(0, limit=10_000), store.jobs("hooks")
