"""The three webhook receivers in-process, deliveries signed with each provider's real
algorithm: an authentic delivery is recorded once and wakes its job; forged, wrong-key, stale,
altered, oversized and unreadable deliveries are refused and change nothing; a replay is
acknowledged and changes nothing; a delivery for a job that is not ours is acknowledged and
ignored; no secret is ever echoed."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from tests.serve.hooks_kit import (
    OPENAI_SECRET,
    REPLICATE_SECRET,
    FalKey,
    RecordingState,
    Submitted,
    body_of,
    snapshot,
    standard_headers,
    submit_job,
)

from reelforge.core.config import database_url
from reelforge.core.models import JobSpec, JobState
from reelforge.serve._hooks_keys import HookSettings
from reelforge.serve.hooks import MAX_BODY, Receivers
from reelforge.store import EventKind, NewJob, Store

FAL_APP = "fal-ai/veo3.1/fast"
JWKS_URL = "http://keys.test/.well-known/jwks.json"
REPLICATE_URL = "http://replicate.test"
REPLICATE_TOKEN = "r8-test-token-secret"  # a test value, not a secret


@dataclass
class Providers:
    """What the fake provider endpoints serve, and what they were asked."""

    fal_keys: list[FalKey]
    replicate_secret: str = REPLICATE_SECRET
    asked: list[httpx.Request] | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert self.asked is not None
        self.asked.append(request)
        if str(request.url) == JWKS_URL:
            keys = [k for key in self.fal_keys for k in key.jwks()["keys"]]
            return httpx.Response(200, json={"keys": keys})
        if str(request.url) == f"{REPLICATE_URL}/v1/webhooks/default/secret":
            if request.headers.get("authorization") != f"Bearer {REPLICATE_TOKEN}":
                return httpx.Response(401, json={"detail": "Unauthenticated"})
            return httpx.Response(200, json={"key": self.replicate_secret})
        return httpx.Response(404)


@dataclass
class Clock:
    """The receivers' clock: the real time, moved on by ``offset`` seconds."""

    offset: float = 0.0

    def now(self) -> float:
        return time.time() + self.offset


@dataclass
class Setup:
    clock: Clock
    store: Store
    state: RecordingState
    client: httpx.AsyncClient
    providers: Providers
    fal_key: FalKey
    openai: Submitted
    fal: Submitted
    replicate: Submitted


def _settings(**overrides: Any) -> HookSettings:
    values: dict[str, Any] = {
        "OPENAI_WEBHOOK_SECRET": OPENAI_SECRET,
        "FAL_WEBHOOK_JWKS_URL": JWKS_URL,
        "REPLICATE_API_TOKEN": REPLICATE_TOKEN,
        "REPLICATE_BASE_URL": REPLICATE_URL,
        **overrides,
    }
    return HookSettings(**values)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(database_url(tmp_path / "reelforge.db"))
    store.migrate()
    yield store
    store.close()


@pytest.fixture
async def make_setup(
    store: Store,
) -> AsyncIterator[Callable[..., Any]]:
    clients: list[httpx.AsyncClient] = []

    def make(**overrides: Any) -> Setup:
        fal_key = FalKey()
        providers = Providers(fal_keys=[fal_key], asked=[])
        state = RecordingState(store=store, db_url=store.url)
        clock = Clock()
        receivers = Receivers(
            state,
            settings=_settings(**overrides),
            transport=httpx.MockTransport(providers.handler),
            now=clock.now,
        )
        app = Starlette(routes=receivers.routes())
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://serve")
        clients.append(client)
        n = len(clients)
        return Setup(
            clock=clock,
            store=store,
            state=state,
            client=client,
            providers=providers,
            fal_key=fal_key,
            openai=submit_job(store, f"openai-{n}", f"video_{uuid.uuid4().hex}"),
            fal=submit_job(store, f"fal-{n}", f"{FAL_APP}/requests/{uuid.uuid4()}"),
            replicate=submit_job(store, f"replicate-{n}", f"pred{uuid.uuid4().hex[:20]}"),
        )

    yield make
    for client in clients:
        await client.aclose()


# -- deliveries, as each provider sends them --------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    path: str
    body: bytes
    headers: dict[str, str]


def openai_delivery(
    video_id: str, *, kind: str = "video.completed", secret: str = OPENAI_SECRET, **kw: Any
) -> Delivery:
    event = {
        "object": "event",
        "id": f"evt_{uuid.uuid4().hex}",
        "type": kind,
        "created_at": int(time.time()),
        "data": {"id": video_id},
    }
    body = body_of(event)
    return Delivery("/hooks/openai", body, standard_headers(secret, body, msg_id=event["id"], **kw))


def fal_delivery(
    job: Submitted | None, key: FalKey, *, request_id: str | None = None, **kw: Any
) -> Delivery:
    request_id = request_id or (job.remote_id.rpartition("/")[2] if job else str(uuid.uuid4()))
    payload = {
        "request_id": request_id,
        "gateway_request_id": request_id,
        "status": "OK",
        "payload": {"video": {"url": "https://v3b.fal.media/files/x/output.mp4"}},
    }
    body = body_of(payload)
    path = f"/hooks/fal?token={job.token}" if job else "/hooks/fal?token=not-a-token"
    return Delivery(path, body, key.headers(request_id, body, **kw))


def replicate_delivery(
    job: Submitted | None, *, secret: str = REPLICATE_SECRET, **kw: Any
) -> Delivery:
    prediction_id = job.remote_id if job else "unknownprediction0001"
    prediction = {
        "id": prediction_id,
        "model": "google/veo-3.1-fast",
        "status": "succeeded",
        "output": "https://replicate.delivery/x/output.mp4",
        "error": None,
    }
    body = body_of(prediction)
    path = f"/hooks/replicate?token={job.token}" if job else "/hooks/replicate"
    return Delivery(path, body, standard_headers(secret, body, **kw))


def authentic(setup: Setup, scheme: str) -> Delivery:
    if scheme == "openai":
        return openai_delivery(setup.openai.remote_id)
    if scheme == "fal":
        return fal_delivery(setup.fal, setup.fal_key)
    return replicate_delivery(setup.replicate)


def job_of(setup: Setup, scheme: str) -> Submitted:
    return {"openai": setup.openai, "fal": setup.fal, "replicate": setup.replicate}[scheme]


async def post(setup: Setup, delivery: Delivery) -> httpx.Response:
    return await setup.client.post(delivery.path, content=delivery.body, headers=delivery.headers)


def rejected(scheme: str, reason: str) -> float:
    labels = {"scheme": scheme, "reason": reason}
    return REGISTRY.get_sample_value("reelforge_webhook_deliveries_rejected_total", labels) or 0.0


def received(scheme: str) -> float:
    labels = {"scheme": scheme}
    return REGISTRY.get_sample_value("reelforge_webhook_deliveries_received_total", labels) or 0.0


SCHEMES = ["openai", "fal", "replicate"]


# -- an authentic delivery --------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_an_authentic_delivery_is_noted_once_and_wakes_its_job(
    scheme: str, make_setup: Callable[..., Setup]
) -> None:
    setup = make_setup()
    job = job_of(setup, scheme)
    before = received(scheme)

    answer = await post(setup, authentic(setup, scheme))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "accepted"}
    assert setup.state.woken == [job.job.id]
    assert received(scheme) == before + 1
    notes = [e for e in setup.store.history(job.job.id) if e.kind is EventKind.NOTE]
    assert len(notes) == 1
    assert notes[0].data["webhook"] == scheme
    assert "checking the job now" in notes[0].data["message"]
    # The hint changed no state: the workflow's own poll decides.
    assert setup.store.get_job(job.job.id).state is job.job.state


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_replayed_delivery_is_acknowledged_and_changes_nothing(
    scheme: str, make_setup: Callable[..., Setup]
) -> None:
    setup = make_setup()
    delivery = authentic(setup, scheme)
    assert (await post(setup, delivery)).json() == {"status": "accepted"}
    before = snapshot(setup.store)

    again = await post(setup, delivery)

    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert snapshot(setup.store) == before
    assert len(setup.state.woken) == 1


async def test_a_redelivery_signed_again_later_is_still_a_duplicate(
    make_setup: Callable[..., Setup],
) -> None:
    # Retries keep the webhook-id but carry a new timestamp and signature.
    setup = make_setup()
    event = openai_delivery(setup.openai.remote_id)
    assert (await post(setup, event)).json() == {"status": "accepted"}
    msg_id = event.headers["webhook-id"]
    retry = Delivery(
        event.path,
        event.body,
        standard_headers(OPENAI_SECRET, event.body, msg_id=msg_id, at=time.time() + 5),
    )
    before = snapshot(setup.store)
    assert (await post(setup, retry)).json() == {"status": "duplicate"}
    assert snapshot(setup.store) == before


# -- refused deliveries change nothing --------------------------------------------------------


def forged(setup: Setup, scheme: str) -> Delivery:
    """Signed with a key that is not the provider's."""
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    if scheme == "openai":
        return openai_delivery(setup.openai.remote_id, secret=other)
    if scheme == "fal":
        return fal_delivery(setup.fal, FalKey())
    return replicate_delivery(setup.replicate, secret=other)


def stale(setup: Setup, scheme: str) -> Delivery:
    """Signed with the right key six minutes ago."""
    at = time.time() - 360
    if scheme == "openai":
        return openai_delivery(setup.openai.remote_id, at=at)
    if scheme == "fal":
        return fal_delivery(setup.fal, setup.fal_key, at=at)
    return replicate_delivery(setup.replicate, at=at)


def future(setup: Setup, scheme: str) -> Delivery:
    """Signed with the right key, dated six minutes ahead."""
    at = time.time() + 360
    if scheme == "openai":
        return openai_delivery(setup.openai.remote_id, at=at)
    if scheme == "fal":
        return fal_delivery(setup.fal, setup.fal_key, at=at)
    return replicate_delivery(setup.replicate, at=at)


def altered(setup: Setup, scheme: str) -> Delivery:
    """Authentic headers over a different body."""
    delivery = authentic(setup, scheme)
    body = delivery.body.replace(b"video", b"vidEo").replace(b"succeeded", b"succeedeD")
    assert body != delivery.body
    return Delivery(delivery.path, body, delivery.headers)


def unsigned(setup: Setup, scheme: str) -> Delivery:
    delivery = authentic(setup, scheme)
    return Delivery(delivery.path, delivery.body, {"content-type": "application/json"})


REFUSALS: dict[str, tuple[Callable[[Setup, str], Delivery], int, str]] = {
    "forged": (forged, 401, "bad_signature"),
    "stale": (stale, 401, "stale"),
    "future": (future, 401, "stale"),
    "altered": (altered, 401, "bad_signature"),
    "unsigned": (unsigned, 401, "missing_headers"),
}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("kind", sorted(REFUSALS))
async def test_a_refused_delivery_changes_nothing(
    scheme: str, kind: str, make_setup: Callable[..., Setup]
) -> None:
    setup = make_setup()
    make, status, reason = REFUSALS[kind]
    delivery = make(setup, scheme)
    before = snapshot(setup.store)
    count = rejected(scheme, reason)

    answer = await post(setup, delivery)

    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    assert rejected(scheme, reason) == count + 1
    assert snapshot(setup.store) == before
    assert setup.state.woken == []
    # Refused, so not remembered: the authentic delivery of the same id still counts.
    assert (await post(setup, authentic(setup, scheme))).json() == {"status": "accepted"}


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_delivery_for_a_job_that_is_not_ours_is_acknowledged_and_ignored(
    scheme: str, make_setup: Callable[..., Setup]
) -> None:
    setup = make_setup()
    if scheme == "openai":
        delivery = openai_delivery("video_not_ours")
    elif scheme == "fal":
        delivery = fal_delivery(None, setup.fal_key)
    else:
        delivery = replicate_delivery(None)
    before = snapshot(setup.store)

    answer = await post(setup, delivery)

    assert answer.status_code == 200
    assert answer.json() == {"status": "ignored"}
    assert snapshot(setup.store) == before
    assert setup.state.woken == []


async def test_a_fal_token_with_another_jobs_request_id_names_no_job(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    delivery = fal_delivery(setup.fal, setup.fal_key, request_id=str(uuid.uuid4()))
    before = snapshot(setup.store)
    assert (await post(setup, delivery)).json() == {"status": "ignored"}
    assert snapshot(setup.store) == before


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_signed_body_that_is_not_the_providers_json_is_refused(
    scheme: str, make_setup: Callable[..., Setup]
) -> None:
    setup = make_setup()
    body = b'{"not": json'
    if scheme == "fal":
        headers = setup.fal_key.headers(str(uuid.uuid4()), body)
        path = f"/hooks/fal?token={setup.fal.token}"
    else:
        secret = OPENAI_SECRET if scheme == "openai" else REPLICATE_SECRET
        headers = standard_headers(secret, body)
        path = f"/hooks/{scheme}"
    before = snapshot(setup.store)

    answer = await post(setup, Delivery(path, body, headers))

    assert answer.status_code == 400
    assert answer.json()["error"] == "the body is not JSON"
    assert snapshot(setup.store) == before


async def test_an_oversized_body_is_refused_unread(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup()
    body = b"{" + b" " * MAX_BODY + b"}"
    answer = await post(
        setup, Delivery("/hooks/openai", body, standard_headers(OPENAI_SECRET, body))
    )
    assert answer.status_code == 413


async def test_an_openai_event_that_ends_no_job_is_acknowledged(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    before = snapshot(setup.store)
    answer = await post(setup, openai_delivery(setup.openai.remote_id, kind="video.created"))
    assert answer.json() == {"status": "ignored"}
    assert snapshot(setup.store) == before


# -- secrets and keys -------------------------------------------------------------------------


async def test_openai_without_a_secret_refuses_every_delivery(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(OPENAI_WEBHOOK_SECRET="")
    answer = await post(setup, authentic(setup, "openai"))
    assert answer.status_code == 503
    assert "OPENAI_WEBHOOK_SECRET" in answer.json()["error"]


async def test_replicate_secret_is_fetched_once_with_the_token_and_never_shown(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    for _ in range(3):
        answer = await post(setup, authentic(setup, "replicate"))
        assert answer.json() == {"status": "accepted"}
        assert REPLICATE_SECRET not in answer.text
    asked = [r for r in setup.providers.asked or [] if r.url.path.endswith("/secret")]
    assert len(asked) == 1
    for event in setup.store.events_after(0, limit=1000):
        assert REPLICATE_TOKEN not in str(event.data)
        assert REPLICATE_SECRET not in str(event.data)
        assert setup.replicate.token not in str(event.data)


async def test_replicate_webhook_secret_setting_is_used_without_fetching(
    make_setup: Callable[..., Setup],
) -> None:
    other = "whsec_" + "b3RoZXItcmVwbGljYXRlLXNlY3JldC0wMTIzNDU2Nzg5"
    setup = make_setup(REPLICATE_WEBHOOK_SECRET=other, REPLICATE_API_TOKEN="")
    answer = await post(setup, replicate_delivery(setup.replicate, secret=other))
    assert answer.json() == {"status": "accepted"}
    assert setup.providers.asked == []


async def test_fal_keys_are_cached_and_a_rotated_key_is_fetched_again(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    assert (await post(setup, authentic(setup, "fal"))).json() == {"status": "accepted"}
    second = submit_job(setup.store, "fal-second", f"{FAL_APP}/requests/{uuid.uuid4()}")
    assert (await post(setup, fal_delivery(second, setup.fal_key))).json() == {"status": "accepted"}
    jwks = [r for r in setup.providers.asked or [] if str(r.url) == JWKS_URL]
    assert len(jwks) == 1  # cached

    # fal rotates its key. Within a minute of the last fetch, a delivery no cached key
    # verifies is refused without fetching again (forgeries cannot make us hammer fal) ...
    rotated = FalKey()
    setup.providers.fal_keys = [rotated]
    third = submit_job(setup.store, "fal-third", f"{FAL_APP}/requests/{uuid.uuid4()}")
    assert (await post(setup, fal_delivery(third, rotated))).status_code == 401
    assert len([r for r in setup.providers.asked or [] if str(r.url) == JWKS_URL]) == 1
    # ... after it, the keys are fetched again and the new key is trusted.
    setup.clock.offset = 61
    answer = await post(setup, fal_delivery(third, rotated, at=setup.clock.now()))
    assert answer.json() == {"status": "accepted"}, answer.text
    assert len([r for r in setup.providers.asked or [] if str(r.url) == JWKS_URL]) == 2


async def test_fal_without_reachable_keys_is_unavailable(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(FAL_WEBHOOK_JWKS_URL="http://keys.test/missing")
    before = snapshot(setup.store)
    answer = await post(setup, authentic(setup, "fal"))
    assert answer.status_code == 503
    assert snapshot(setup.store) == before


async def test_a_fal_webhook_for_a_create_whose_answer_was_lost_names_the_request_to_adopt(
    make_setup: Callable[..., Setup],
) -> None:
    # The create went out (its intent and token are recorded) but its answer never came back:
    # fal cannot list, so only its webhook can say which request the create made.
    setup = make_setup()
    store = setup.store
    spec = JobSpec(prompt="a greenhouse at dawn", model=f"{FAL_APP}/text-to-video")
    store.add_jobs("hooks", [NewJob(key="lost", spec=spec, position=99)])
    job = next(job for job in store.jobs("hooks") if job.key == "lost")
    store.transition(job.id, JobState.WAITING)
    token = store.record_intent(job.id)
    request_id = str(uuid.uuid4())
    lost = Submitted(job=store.get_job(job.id), token=token, remote_id=f"x/requests/{request_id}")

    answer = await post(setup, fal_delivery(lost, setup.fal_key))

    assert answer.json() == {"status": "accepted"}
    note = [e for e in store.history(job.id) if e.kind is EventKind.NOTE][-1]
    remote = f"{FAL_APP.rsplit('/', 1)[0]}/requests/{request_id}"
    assert note.data["request"] == remote
    assert f"reelforge reconcile --adopt {job.id} {remote}" in note.data["message"]
    assert store.get_job(job.id).remote_id is None  # a person adopts it; nothing is assumed
