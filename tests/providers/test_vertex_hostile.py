"""The Vertex adapter against answers no honest server gives: it fails cleanly, never keeps a
bad file, never creates twice, never shows the token."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai_fakes import FakeClock
from test_vertex_kit import LOCATION, MODEL, PROJECT, credentials

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    ErrorCategory,
    ProtocolError,
    ReelforgeError,
)
from reelforge.core.models import JobSpec, RemoteState, Variant
from reelforge.providers import RetryPolicy
from reelforge.providers.vertex import VertexProvider

BASE = "http://vx.test"
PREFIX = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{MODEL}"
NAME = f"{PREFIX}/operations/0f0e8a44-1b5c-4c7e-9d5b-2f7c1e3a9b10"
Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """A MockTransport handler: ``/token`` issues numbered tokens, the rest goes to ``api``."""

    def __init__(self, api: Handler) -> None:
        self.api = api
        self.issued: list[str] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            token = f"ya29.hostile-secret-{len(self.issued)}"
            self.issued.append(token)
            return httpx.Response(
                200, json={"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
            )
        self.requests.append(request)
        return self.api(request)

    def creates(self) -> int:
        return sum(r.url.path.endswith(":predictLongRunning") for r in self.requests)


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., tuple[VertexProvider, Server]]]:
    clients: list[httpx.AsyncClient] = []

    def build(api: Handler, **kwargs: Any) -> tuple[VertexProvider, Server]:
        server = Server(api)
        client = httpx.AsyncClient(transport=httpx.MockTransport(server))
        clients.append(client)
        kwargs.setdefault("max_asset_bytes", 10_000)
        provider = VertexProvider(
            client,
            project=PROJECT,
            location=LOCATION,
            base_url=BASE,
            credentials=credentials(f"{BASE}/token"),
            clock=FakeClock(),
            rng=random.Random(1),
            retry=RetryPolicy(max_attempts=3),
            **kwargs,
        )
        return provider, server

    yield build
    for client in clients:
        await client.aclose()


def spec() -> JobSpec:
    return JobSpec(prompt="a kite over dunes", model=MODEL, seconds=4)


def done_inline(data: str) -> httpx.Response:
    body = {
        "name": NAME,
        "done": True,
        "response": {"videos": [{"bytesBase64Encoded": data, "mimeType": "video/mp4"}]},
    }
    return httpx.Response(200, json=body)


async def test_malformed_json_is_a_protocol_error(make: Any) -> None:
    provider, _ = make(lambda request: httpx.Response(200, content=b'{"name": '))
    with pytest.raises(ProtocolError):
        await provider.fetch(NAME)


async def test_an_operation_of_another_project_is_ambiguous_and_not_resent(make: Any) -> None:
    other = NAME.replace(PROJECT, "someone-else")
    provider, server = make(lambda request: httpx.Response(200, json={"name": other}))
    with pytest.raises(AmbiguousSubmissionError):
        await provider.submit(spec())
    assert server.creates() == 1


async def test_an_operation_of_another_model_is_ambiguous(make: Any) -> None:
    other = NAME.replace(MODEL, "veo-3.1-lite-generate-001")
    provider, server = make(lambda request: httpx.Response(200, json={"name": other}))
    with pytest.raises(AmbiguousSubmissionError):
        await provider.submit(spec())
    assert server.creates() == 1


async def test_a_5xx_after_sending_a_create_is_ambiguous(make: Any) -> None:
    provider, server = make(lambda request: httpx.Response(503, json={"error": {"code": 503}}))
    with pytest.raises(AmbiguousSubmissionError):
        await provider.submit(spec())
    assert server.creates() == 1


async def test_a_401_create_is_sent_again_once_with_a_new_token(make: Any) -> None:
    answers = iter([httpx.Response(401, json={"error": {"code": 401}})])

    def api(request: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(200, json={"name": NAME}))

    provider, server = make(api)
    status = await provider.submit(spec())
    assert status.remote_id == NAME
    assert server.creates() == 2
    assert [r.headers["authorization"] for r in server.requests] == [
        f"Bearer {token}" for token in server.issued
    ]


async def test_a_fetch_answering_another_operation_is_refused(make: Any) -> None:
    other = NAME.replace("0f0e8a44", "11111111")
    provider, _ = make(lambda request: httpx.Response(200, json={"name": other}))
    with pytest.raises(ProtocolError):
        await provider.fetch(NAME)


async def test_an_id_of_another_project_is_refused_before_sending(make: Any) -> None:
    provider, server = make(lambda request: httpx.Response(500))
    with pytest.raises(ProtocolError) as caught:
        await provider.fetch(NAME.replace(PROJECT, "elsewhere"))
    assert caught.value.category is ErrorCategory.INVALID_REQUEST
    assert not server.requests


async def test_a_huge_inline_video_is_refused_and_nothing_kept(make: Any, tmp_path: Path) -> None:
    data = base64.b64encode(b"\0" * 30_000).decode("ascii")
    provider, _ = make(lambda request: done_inline(data))
    with pytest.raises(ProtocolError, match="larger than 10000 bytes"):
        await provider.download(NAME, Variant.VIDEO, tmp_path / "v.mp4")
    assert not (tmp_path / "v.mp4").exists()
    assert not (tmp_path / "v.mp4.part").exists()


async def test_inline_garbage_is_refused_and_nothing_kept(make: Any, tmp_path: Path) -> None:
    provider, _ = make(lambda request: done_inline("not*base64!"))
    with pytest.raises(ProtocolError, match="not base64"):
        await provider.download(NAME, Variant.VIDEO, tmp_path / "v.mp4")
    assert not (tmp_path / "v.mp4").exists()
    assert not (tmp_path / "v.mp4.part").exists()


async def test_inline_bytes_that_are_not_an_mp4_are_not_kept(make: Any, tmp_path: Path) -> None:
    data = base64.b64encode(b"<html>surprise</html>").decode("ascii")
    provider, _ = make(lambda request: done_inline(data))
    with pytest.raises(ReelforgeError):
        await provider.download(NAME, Variant.VIDEO, tmp_path / "v.mp4")
    assert not (tmp_path / "v.mp4").exists()
    assert not (tmp_path / "v.mp4.part").exists()


async def test_a_huge_answer_besides_the_video_is_refused(make: Any) -> None:
    body = json.dumps({"name": NAME, "metadata": {"junk": "x" * (2 * 1024 * 1024)}})
    provider, _ = make(lambda request: httpx.Response(200, content=body.encode()))
    with pytest.raises(ProtocolError, match="larger than"):
        await provider.fetch(NAME)


async def test_a_large_done_operation_is_read_for_its_status(make: Any) -> None:
    data = base64.b64encode(b"\0" * 3_000_000).decode("ascii")
    provider, _ = make(lambda request: done_inline(data), max_asset_bytes=10_000_000)
    status = await provider.fetch(NAME)
    assert status.state is RemoteState.COMPLETED


async def test_reads_are_retried_after_a_5xx(make: Any) -> None:
    answers = iter([httpx.Response(500, json={"error": {"code": 500, "status": "INTERNAL"}})])

    def api(request: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(200, json={"name": NAME}))

    provider, server = make(api)
    assert (await provider.fetch(NAME)).state is RemoteState.IN_PROGRESS
    assert len(server.requests) == 2


async def test_the_token_never_shows(make: Any) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        echoed = request.headers["authorization"]
        body = {"error": {"code": 400, "message": f"bad header {echoed}", "status": "X"}}
        return httpx.Response(400, json=body)

    provider, server = make(api)
    with pytest.raises(ReelforgeError) as caught:
        await provider.fetch(NAME)
    token = server.issued[0]
    assert token not in str(caught.value)
    assert token not in repr(caught.value)
    assert token not in repr(provider)
    assert "[redacted]" in str(caught.value)
