"""The official ``replicate`` client (1.0.x) against the simulator on a real loopback port.

It creates (official model and by version), gets, lists every page, cancels, reads the webhook
secret and validates a webhook the simulator delivered with its own ``Webhooks.validate``.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest
from replicate.client import Client
from replicate.prediction import Prediction
from replicate.webhook import InvalidSignatureError, Webhooks
from simkit import ThreadedServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reelforge.sim import EmbeddedSimulator, SimConfig
from reelforge.sim.config import ReplicateConfig
from reelforge.sim.replicate_wire import version_id

TOKEN = "r8_sdk_referee"


@pytest.fixture(scope="module")
def emb() -> Iterator[EmbeddedSimulator]:
    config = SimConfig(
        time_scale=3000,
        media_scale=0.125,
        fps=2,
        replicate=ReplicateConfig(page_size=3, webhook_interval=0.02),
    )
    with EmbeddedSimulator(config) as server:
        yield server


@contextlib.contextmanager
def sdk(emb: EmbeddedSimulator, token: str = TOKEN) -> Iterator[Client]:
    """A client whose connections are closed afterwards (it has no ``close`` of its own)."""
    client = Client(api_token=token, base_url=emb.url)
    try:
        yield client
    finally:
        client._client.close()


@pytest.fixture
def client(emb: EmbeddedSimulator) -> Iterator[Client]:
    with sdk(emb) as made:
        yield made


def wait_for(client: Client, prediction_id: str) -> Prediction:
    for _ in range(400):
        prediction = client.predictions.get(prediction_id)
        if prediction.status in ("succeeded", "failed", "canceled"):
            return prediction
        time.sleep(0.02)
    raise AssertionError(f"{prediction_id} did not finish")


def test_create_get_and_download_through_the_client(client: Client, emb: EmbeddedSimulator) -> None:
    created = client.models.predictions.create(
        model="google/veo-3.1-fast", input={"prompt": "a paper crane", "duration": 4}
    )
    assert created.status == "starting"
    assert created.version == "hidden"
    assert created.urls is not None
    assert created.urls["get"] == f"{emb.url}/v1/predictions/{created.id}"
    done = wait_for(client, created.id)
    assert done.status == "succeeded"
    assert isinstance(done.output, str)
    data = httpx.get(done.output).content
    assert hashlib.sha256(data).hexdigest() == emb.sim.asset_sha256(created.id)
    assert [record.video_id for record in emb.sim.log.creates].count(created.id) == 1


def test_create_by_version_and_with_prefer_wait(client: Client) -> None:
    by_version = client.predictions.create(
        version=version_id("alibaba/wan-3"), input={"prompt": "a tram in the rain"}
    )
    assert by_version.model == "alibaba/wan-3"
    assert by_version.version == version_id("alibaba/wan-3")
    waited = client.models.predictions.create(
        model="google/veo-3.1", input={"prompt": "a slow sunrise", "duration": 4}, wait=5
    )
    assert waited.status == "succeeded"  # held until done (a few ms at this time scale)


def test_list_follows_every_page(client: Client, emb: EmbeddedSimulator) -> None:
    with sdk(emb, "r8_sdk_lister") as other:
        ids = [
            other.models.predictions.create(
                model="google/veo-3.1-fast", input={"prompt": f"clip {index}"}
            ).id
            for index in range(7)
        ]
        seen: list[str] = []
        page = other.predictions.list()
        pages = 1
        while True:
            seen += [prediction.id for prediction in page.results]
            if page.next is None:
                break
            page = other.predictions.list(page.next)
            pages += 1
    assert seen == ids[::-1]
    assert pages == 3


def test_cancel_through_the_client(client: Client, emb: EmbeddedSimulator) -> None:
    created = client.models.predictions.create(
        model="google/veo-3.1", input={"prompt": "a long pan over hills"}
    )
    canceled = client.predictions.cancel(created.id)
    assert canceled.status == "canceled"
    assert client.predictions.get(created.id).status == "canceled"


def test_the_client_cannot_read_aborted_which_the_simulator_sends(
    client: Client, emb: EmbeddedSimulator
) -> None:
    created = client.models.predictions.create(
        model="google/veo-3.1", input={"prompt": "never started"}
    )
    job = emb.sim.store.any(created.id)
    assert job is not None
    job.canceled_at = job.data["deadline"] = job.created_at  # a deadline that passed at once
    raw = httpx.get(
        f"{emb.url}/v1/predictions/{created.id}", headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()
    assert raw["status"] == "aborted"
    with pytest.raises(ValueError, match="aborted"):  # pydantic's ValidationError
        client.predictions.get(created.id)


def test_webhook_validates_with_the_clients_secret(client: Client, emb: EmbeddedSimulator) -> None:
    received: list[tuple[dict[str, str], str]] = []

    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), (await request.body()).decode()))
        return Response(status_code=204)

    secret = client.webhooks.default.secret()
    assert secret.key.startswith("whsec_")
    with ThreadedServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as sink:
        created = client.models.predictions.create(
            model="google/veo-3.1-fast",
            input={"prompt": "a bell rings", "duration": 4},
            webhook=f"{sink.url}/hook",
            webhook_events_filter=["completed"],
        )
        for _ in range(400):
            if received:
                break
            time.sleep(0.02)
    assert len(received) == 1
    headers, body = received[0]
    Webhooks.validate(headers=headers, body=body, secret=secret, tolerance=300)
    assert f'"id":"{created.id}"' in body
    assert '"status":"succeeded"' in body
    tampered = body.replace("succeeded", "failed")
    with pytest.raises(InvalidSignatureError):
        Webhooks.validate(headers=headers, body=tampered, secret=secret, tolerance=300)
