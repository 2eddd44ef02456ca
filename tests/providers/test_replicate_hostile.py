"""The Replicate adapter against hand-written answers: odd, broken and hostile servers."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from openai_fakes import FakeClock

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    AssetExpiredError,
    AuthError,
    ProtocolError,
    RateLimitedError,
)
from reelforge.core.models import JobSpec, RemoteState
from reelforge.providers import RetryPolicy
from reelforge.providers._replicate_wire import cancel_after_header, parse_prediction
from reelforge.providers.replicate import ReplicateProvider

TOKEN = "r8_hostile_secret_token_0123"
BASE = "https://api.replicate.test"
Handler = Callable[[httpx.Request], httpx.Response]


def prediction(prediction_id: str = "abc123", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": prediction_id,
        "model": "google/veo-3.1",
        "version": "hidden",
        "input": {"prompt": "a fox", "duration": 8},
        "logs": "",
        "output": None,
        "data_removed": False,
        "error": None,
        "status": "starting",
        "source": "api",
        "created_at": "2027-01-15T10:00:00.123456Z",
        "started_at": None,
        "completed_at": None,
        "deadline": None,
        "urls": {},
        "metrics": {},
    }
    body.update(overrides)
    return body


class Recorder:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


@pytest.fixture
async def make() -> AsyncIterator[Callable[[Handler], tuple[ReplicateProvider, Recorder]]]:
    clients: list[httpx.AsyncClient] = []

    def build(handler: Handler) -> tuple[ReplicateProvider, Recorder]:
        recorder = Recorder(handler)
        client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
        clients.append(client)
        provider = ReplicateProvider(
            client,
            base_url=BASE,
            api_token=TOKEN,
            clock=FakeClock(),
            rng=random.Random(1),
            retry=RetryPolicy(max_attempts=3),
        )
        return provider, recorder

    yield build
    for client in clients:
        await client.aclose()


Make = Callable[[Handler], tuple[ReplicateProvider, Recorder]]
SPEC = JobSpec(prompt="a fox", provider="replicate", model="google/veo-3.1", seconds=8)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "5s"), (5, "5s"), (59.2, "1m"), (90, "1m30s"), (3600, "1h"), (5445, "1h30m45s")],
)
def test_cancel_after_is_written_in_replicates_durations(seconds: float, text: str) -> None:
    assert cancel_after_header(seconds) == text


async def test_an_unknown_status_word_is_a_running_job(make: Make) -> None:
    provider, _ = make(
        lambda _: httpx.Response(200, json=prediction(status="warming_up_gpus", logs="42%|##"))
    )
    status = await provider.fetch("abc123")
    assert status.state is RemoteState.QUEUED
    assert status.provider_status == "warming_up_gpus"
    started = prediction(status="rendering", started_at="2027-01-15T10:00:05Z")
    provider, _ = make(lambda _: httpx.Response(200, json=started))
    assert (await provider.fetch("abc123")).state is RemoteState.IN_PROGRESS


async def test_a_list_output_gives_its_first_video(make: Make) -> None:
    done = prediction(
        status="succeeded",
        output=["https://cdn.test/poster.png", "https://cdn.test/clip.mp4"],
        completed_at="2027-01-15T10:01:00Z",
    )
    provider, _ = make(lambda _: httpx.Response(200, json=done))
    status = await provider.fetch("abc123")
    assert status.state is RemoteState.COMPLETED
    assert status.completed_at is not None
    assert status.expires_at == status.completed_at + 3600
    assert parse_prediction(done).output_url == "https://cdn.test/clip.mp4"


async def test_malformed_json_is_a_protocol_error_and_an_ambiguous_create(make: Make) -> None:
    provider, recorder = make(lambda _: httpx.Response(201, content=b"{not json"))
    with pytest.raises(AmbiguousSubmissionError):
        await provider.submit(SPEC)
    assert len(recorder.requests) == 1
    with pytest.raises(ProtocolError):
        await provider.fetch("abc123")
    provider, _ = make(lambda _: httpx.Response(200, json=prediction(status=7)))
    with pytest.raises(ProtocolError, match="status"):
        await provider.fetch("abc123")
    provider, _ = make(lambda _: httpx.Response(200, json=prediction(prediction_id="other")))
    with pytest.raises(ProtocolError, match="other"):
        await provider.fetch("abc123")


async def test_a_5xx_on_create_is_ambiguous_after_one_request(make: Make) -> None:
    provider, recorder = make(
        lambda _: httpx.Response(503, json={"title": "Service Unavailable", "status": 503})
    )
    with pytest.raises(AmbiguousSubmissionError):
        await provider.submit(SPEC, cancel_after=600)
    [request] = recorder.requests
    assert request.headers["cancel-after"] == "10m"
    assert "prefer" not in request.headers
    assert json.loads(request.content)["input"]["duration"] == 8


async def test_a_429_on_create_is_retried_with_retry_after(make: Make) -> None:
    answers = [
        httpx.Response(
            429,
            json={"detail": "Request was throttled. Your rate limit resets in ~3s."},
            headers={"ratelimit-reset": "3", "retry-after": "2"},
        ),
        httpx.Response(201, json=prediction()),
    ]
    provider, recorder = make(lambda _: answers.pop(0))
    status = await provider.submit(SPEC)
    assert status.remote_id == "abc123"
    assert len(recorder.requests) == 2
    provider, _ = make(
        lambda _: httpx.Response(
            429, json={"detail": "throttled"}, headers={"ratelimit-reset": "3000"}
        )
    )
    with pytest.raises(RateLimitedError) as limited:
        await provider.fetch("abc123")
    assert limited.value.retry_after == 3000  # too long to wait in-process: raised at once


async def test_a_next_link_to_another_host_is_not_followed(make: Make) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "results": [prediction()],
                "next": "https://evil.test/v1/predictions?cursor=x",
                "previous": None,
            },
        )

    provider, recorder = make(handler)
    seen: list[str] = []

    async def collect() -> None:
        async for status in provider.list_recent():
            seen.append(status.remote_id)

    with pytest.raises(ProtocolError, match="origin"):
        await collect()
    assert seen == ["abc123"]
    assert all(request.url.host == "api.replicate.test" for request in recorder.requests)


async def test_a_next_link_that_repeats_stops(make: Make) -> None:
    page = {"results": [], "next": f"{BASE}/v1/predictions?cursor=same", "previous": None}
    provider, recorder = make(lambda _: httpx.Response(200, json=page))
    with pytest.raises(ProtocolError, match="repeats"):
        _ = [status async for status in provider.list_recent()]
    assert len(recorder.requests) == 2  # the first page, then the one that points to itself


async def test_path_like_ids_stay_one_segment_or_are_refused(make: Make) -> None:
    provider, recorder = make(
        lambda request: httpx.Response(200, json=prediction(prediction_id="../../etc"))
    )
    status = await provider.fetch("../../etc")
    assert status.remote_id == "../../etc"
    assert recorder.requests[0].url.raw_path == b"/v1/predictions/..%2F..%2Fetc"
    with pytest.raises(ProtocolError, match="nothing was sent"):
        await provider.fetch("..")
    with pytest.raises(ProtocolError, match="nothing was sent"):
        await provider.delete("a\nb")
    assert len(recorder.requests) == 1


async def test_the_token_never_shows(make: Make) -> None:
    provider, _ = make(
        lambda _: httpx.Response(
            401, json={"title": "Unauthenticated", "detail": f"bad token {TOKEN}", "status": 401}
        )
    )
    with pytest.raises(AuthError) as refused:
        await provider.fetch("abc123")
    assert TOKEN not in str(refused.value)
    assert TOKEN not in repr(refused.value)
    assert TOKEN not in repr(provider)
    assert refused.value.provider == "replicate"


async def test_the_token_is_not_sent_to_the_file_host(make: Make, tmp_path: Any) -> None:
    done = prediction(
        status="succeeded",
        output="https://files.replicate.test/out/output.mp4",
        completed_at="2027-01-15T10:01:00Z",
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "files.replicate.test":
            return httpx.Response(410, text="gone")
        return httpx.Response(200, json=done)

    provider, recorder = make(handler)
    with pytest.raises(AssetExpiredError, match="removed"):
        await provider.download("abc123", "video", tmp_path / "v.mp4")  # type: ignore[arg-type]
    file_requests = [r for r in recorder.requests if r.url.host == "files.replicate.test"]
    assert file_requests
    assert all("authorization" not in r.headers for r in file_requests)
