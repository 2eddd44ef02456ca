"""The official ``google-genai`` client in Vertex mode against the simulator on a loopback
port: service-account credentials (a test-generated key) get their token from the simulator's
``/token``, ``models.generate_videos`` starts an operation, ``operations.get`` polls it until
``done`` and the video's bytes come back inline.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google import genai
from google.genai import types
from google.oauth2 import service_account

from reelforge.sim import EmbeddedSimulator, SimConfig
from reelforge.sim.config import VertexConfig

EMAIL = "sdk-referee@reelforge-tests.iam.gserviceaccount.com"
PROJECT = "sdk-referee"
LOCATION = "us-central1"
MODEL = "veo-3.1-fast-generate-001"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def emb(key: rsa.RSAPrivateKey) -> Iterator[EmbeddedSimulator]:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    config = SimConfig(
        time_scale=3000,
        media_scale=0.125,
        fps=2,
        vertex=VertexConfig(service_accounts={EMAIL: public.decode("ascii")}),
        faults={"moderation_patterns": ["forbidden"]},
    )
    with EmbeddedSimulator(config) as server:
        yield server


def credentials(key: rsa.RSAPrivateKey, token_uri: str) -> Any:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "referee",
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "1",
        "token_uri": token_uri,
    }
    return service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )


@pytest.fixture
def client(emb: EmbeddedSimulator, key: rsa.RSAPrivateKey) -> Iterator[genai.Client]:
    root = emb.url.removesuffix("/v1")
    made = genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=credentials(key, f"{root}/token"),
        http_options=types.HttpOptions(base_url=root),
    )
    try:
        yield made
    finally:
        made.close()


def wait(client: genai.Client, operation: types.GenerateVideosOperation) -> Any:
    deadline = time.monotonic() + 30
    while not operation.done:
        assert time.monotonic() < deadline, "the operation never finished"
        time.sleep(0.05)
        operation = client.operations.get(operation)
    return operation


def test_generate_videos_polls_and_reads_the_video_inline(
    client: genai.Client, emb: EmbeddedSimulator
) -> None:
    operation = client.models.generate_videos(
        model=MODEL,
        source=types.GenerateVideosSource(prompt="A lighthouse in a storm, waves breaking"),
        config=types.GenerateVideosConfig(duration_seconds=4, aspect_ratio="16:9"),
    )
    assert operation.name is not None
    prefix = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{MODEL}"
    assert operation.name.startswith(prefix + "/operations/")
    done = wait(client, operation)
    assert done.error is None
    assert done.result is not None
    assert done.result.generated_videos
    video = done.result.generated_videos[0].video
    assert video is not None
    assert video.video_bytes
    video_id = operation.name.rpartition("/")[2]
    assert hashlib.sha256(video.video_bytes).hexdigest() == emb.sim.asset_sha256(video_id)


def test_safety_filtered_operation_has_no_videos(client: genai.Client) -> None:
    operation = client.models.generate_videos(
        model=MODEL,
        source=types.GenerateVideosSource(prompt="a forbidden scene"),
        config=types.GenerateVideosConfig(duration_seconds=4),
    )
    done = wait(client, operation)
    assert done.result is not None
    assert done.result.rai_media_filtered_count == 1
    assert done.result.rai_media_filtered_reasons
    assert not done.result.generated_videos
