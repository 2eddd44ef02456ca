"""The simulator's Vertex Veo protocol in detail: operation names, inline and Cloud Storage
output, the safety filter, Google's error shape, and the token endpoint's checks."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt
from simkit import FakeClock, SimFactory

from reelforge.sim import Simulator
from reelforge.sim.vertex_wire import SIMULATOR_SERVICE_ACCOUNT

EMAIL = "sim-test@reelforge-tests.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_AUD = "https://oauth2.googleapis.com/token"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MODEL = "veo-3.1-generate-001"
PREFIX = f"projects/proj-1/locations/us-central1/publishers/google/models/{MODEL}"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def assertion(key_pem: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": EMAIL, "aud": GOOGLE_AUD, "scope": SCOPE, "iat": now, "exp": now + 3600}
    payload.update(claims)
    signed = jwt.encode(crypt.RSASigner.from_string(key_pem, "k1"), payload)
    return signed.decode("ascii")


@pytest.fixture
def vsim(make_sim: SimFactory, key: rsa.RSAPrivateKey) -> Simulator:
    return make_sim(
        vertex={"service_accounts": {EMAIL: public(key)}, "token_lifetime": 600},
        faults={"moderation_patterns": ["forbidden"]},
        media_scale=0.125,
        fps=2,
    )


@pytest.fixture
async def raw(vsim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=vsim.app), base_url="http://sim.test"
    ) as client:
        yield client


async def grant(raw: httpx.AsyncClient, signed: str) -> httpx.Response:
    return await raw.post("/token", data={"grant_type": GRANT, "assertion": signed})


@pytest.fixture
async def auth(raw: httpx.AsyncClient, key: rsa.RSAPrivateKey) -> dict[str, str]:
    response = await grant(raw, assertion(pem(key)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    return {"Authorization": f"Bearer {body['access_token']}"}


async def predict(
    raw: httpx.AsyncClient, auth: dict[str, str], version: str = "v1", **parameters: Any
) -> httpx.Response:
    prompt = parameters.pop("prompt", "A quiet harbour at dusk")
    body = {"instances": [{"prompt": prompt}], "parameters": {"sampleCount": 1, **parameters}}
    return await raw.post(f"/{version}/{PREFIX}:predictLongRunning", json=body, headers=auth)


async def operation(raw: httpx.AsyncClient, auth: dict[str, str], name: str) -> dict[str, Any]:
    response = await raw.post(
        f"/v1/{PREFIX}:fetchPredictOperation", json={"operationName": name}, headers=auth
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def finish(sim: Simulator, clock: FakeClock, name: str) -> None:
    clock.t = max(clock.t, sim.video(name.rpartition("/")[2]).finished_at + 0.001)


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
async def test_predict_answers_the_operation_name(
    raw: httpx.AsyncClient, auth: dict[str, str], vsim: Simulator, version: str
) -> None:
    response = await predict(raw, auth, version, durationSeconds=8)
    assert response.status_code == 200
    name = response.json()["name"]
    assert name.startswith(PREFIX + "/operations/")
    video_id = name.rpartition("/")[2]
    assert len(video_id) == 36
    assert [record.video_id for record in vsim.log.creates] == [video_id]
    running = await operation(raw, auth, name)
    assert running == {"name": name}


async def test_inline_output_is_the_mp4_in_base64(
    raw: httpx.AsyncClient, auth: dict[str, str], vsim: Simulator, clock: FakeClock
) -> None:
    name = (await predict(raw, auth)).json()["name"]
    finish(vsim, clock, name)
    body = await operation(raw, auth, name)
    assert body["done"] is True
    response = body["response"]
    assert response["@type"].endswith("GenerateVideoResponse")
    assert response["raiMediaFilteredCount"] == 0
    (video,) = response["videos"]
    assert video["mimeType"] == "video/mp4"
    data = base64.b64decode(video["bytesBase64Encoded"])
    assert hashlib.sha256(data).hexdigest() == vsim.asset_sha256(name.rpartition("/")[2])


async def test_storage_uri_output_is_served_by_the_storage_route(
    raw: httpx.AsyncClient, auth: dict[str, str], vsim: Simulator, clock: FakeClock
) -> None:
    name = (await predict(raw, auth, storageUri="gs://my-bucket/out/")).json()["name"]
    finish(vsim, clock, name)
    video_id = name.rpartition("/")[2]
    (video,) = (await operation(raw, auth, name))["response"]["videos"]
    assert video == {
        "gcsUri": f"gs://my-bucket/out/{video_id}/sample_0.mp4",
        "mimeType": "video/mp4",
    }
    path = f"/storage/v1/b/my-bucket/o/out%2F{video_id}%2Fsample_0.mp4"
    denied = await raw.get(path, params={"alt": "media"})
    assert denied.status_code == 401
    assert denied.json()["error"]["status"] == "UNAUTHENTICATED"
    whole = await raw.get(path, params={"alt": "media"}, headers=auth)
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == vsim.asset_sha256(video_id)
    part = await raw.get(path, params={"alt": "media"}, headers={**auth, "Range": "bytes=10-"})
    assert part.status_code == 206
    assert part.content == whole.content[10:]


async def test_safety_filter_and_generation_failure(
    make_sim: SimFactory, key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    sim = make_sim(
        vertex={"service_accounts": {EMAIL: public(key)}},
        faults={"moderation_patterns": ["forbidden"]},
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url="http://sim.test"
    ) as raw:
        token = (await grant(raw, assertion(pem(key)))).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        name = (await predict(raw, auth, prompt="a forbidden act")).json()["name"]
        finish(sim, clock, name)
        body = await operation(raw, auth, name)
    assert body["done"] is True
    assert body["response"]["raiMediaFilteredCount"] == 1
    assert body["response"]["raiMediaFilteredReasons"]
    assert body["response"]["videos"] == []
    failing = make_sim(
        vertex={"service_accounts": {EMAIL: public(key)}},
        faults={"generation_failure_rate": 1.0},
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=failing.app), base_url="http://sim.test"
    ) as raw:
        token = (await grant(raw, assertion(pem(key)))).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        name = (await predict(raw, auth)).json()["name"]
        finish(failing, clock, name)
        body = await operation(raw, auth, name)
    assert body["done"] is True
    assert body["error"]["code"] == 13
    assert "response" not in body


async def test_errors_are_in_googles_shape(raw: httpx.AsyncClient, auth: dict[str, str]) -> None:
    unknown = await raw.post(
        "/v1/projects/p/locations/us-central1/publishers/google/models/veo-9:predictLongRunning",
        json={"instances": [{"prompt": "x"}]},
        headers=auth,
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["status"] == "NOT_FOUND"
    bad = await predict(raw, auth, durationSeconds=7)
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "code": 400,
        "message": bad.json()["error"]["message"],
        "status": "INVALID_ARGUMENT",
    }
    assert "durationSeconds" in bad.json()["error"]["message"]
    name = (await predict(raw, auth)).json()["name"]
    other = await raw.post(
        "/v1/projects/p/locations/us-central1/publishers/google/models/veo-3.1-lite-generate-001"
        ":fetchPredictOperation",
        json={"operationName": name},
        headers=auth,
    )
    assert other.status_code == 400
    assert other.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_rate_limit_faults_are_resource_exhausted(
    make_sim: SimFactory, key: rsa.RSAPrivateKey
) -> None:
    sim = make_sim(
        vertex={"service_accounts": {EMAIL: public(key)}}, faults={"rate_limit_rate": 1.0}
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url="http://sim.test"
    ) as raw:
        token = (await grant(raw, assertion(pem(key)))).json()["access_token"]
        response = await predict(raw, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 429
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert response.json()["error"]["code"] == 429
    assert not sim.log.creates


async def test_token_endpoint_refuses_bad_assertions(
    raw: httpx.AsyncClient, key: rsa.RSAPrivateKey
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = await grant(raw, assertion(pem(stranger)))
    assert forged.status_code == 400
    assert forged.json()["error"] == "invalid_grant"
    scoped = await grant(raw, assertion(pem(key), scope="https://www.googleapis.com/auth/drive"))
    assert scoped.status_code == 400
    assert scoped.json()["error"] == "invalid_scope"
    now = int(time.time())
    stale = await grant(raw, assertion(pem(key), iat=now - 7200, exp=now - 3600))
    assert stale.status_code == 400
    assert stale.json()["error"] == "invalid_grant"
    wrong_aud = await grant(raw, assertion(pem(key), aud="https://example.com/token"))
    assert wrong_aud.status_code == 400
    own_aud = await grant(raw, assertion(pem(key), aud="http://sim.test/token"))
    assert own_aud.status_code == 200
    grant_type = await raw.post("/token", data={"grant_type": "password", "assertion": "x"})
    assert grant_type.json()["error"] == "unsupported_grant_type"


async def test_the_builtin_account_is_trusted(raw: httpx.AsyncClient) -> None:
    signed = assertion(
        SIMULATOR_SERVICE_ACCOUNT["private_key"], iss=SIMULATOR_SERVICE_ACCOUNT["client_email"]
    )
    assert (await grant(raw, signed)).status_code == 200


async def test_expired_or_unknown_access_tokens_are_unauthenticated(
    raw: httpx.AsyncClient, auth: dict[str, str], clock: FakeClock
) -> None:
    assert (await predict(raw, auth)).status_code == 200
    unknown = await predict(raw, {"Authorization": "Bearer ya29.made-up"})
    assert unknown.status_code == 401
    assert unknown.json()["error"]["status"] == "UNAUTHENTICATED"
    clock.tick(601)
    expired = await predict(raw, auth)
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == 401


async def test_a_refreshed_token_sees_the_jobs_of_the_last_one(
    raw: httpx.AsyncClient, auth: dict[str, str], key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    name = (await predict(raw, auth)).json()["name"]
    clock.tick(601)
    token = (await grant(raw, assertion(pem(key)))).json()["access_token"]
    body = await operation(raw, {"Authorization": f"Bearer {token}"}, name)
    assert body["name"] == name


async def test_an_operation_made_under_a_5xx_exists_with_its_name(
    make_sim: SimFactory, key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    sim = make_sim(
        vertex={"service_accounts": {EMAIL: public(key)}},
        faults={"error_after_create_rate": 1.0},
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url="http://sim.test"
    ) as raw:
        token = (await grant(raw, assertion(pem(key)))).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        failed = await predict(raw, auth)
        assert failed.status_code == 500
        assert failed.json()["error"]["status"] == "INTERNAL"
        (record,) = sim.log.creates
        name = f"{PREFIX}/operations/{record.video_id}"
        finish(sim, clock, name)
        body = await operation(raw, auth, name)
    assert body["done"] is True
    assert body["response"]["videos"]
