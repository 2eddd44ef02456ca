"""The fal adapter against the simulator's fal protocol, in-process (the production code path)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import av
import httpx
import pytest
from openai_fakes import FakeClock

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    AuthError,
    ErrorCategory,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    UnsupportedOperationError,
)
from reelforge.core.models import JobSpec, RemoteState, RemoteStatus, Variant
from reelforge.providers import RetryPolicy
from reelforge.providers._errors import VideoNotReadyError
from reelforge.providers.fal import FalProvider
from reelforge.sim import SimConfig, Simulator

QUEUE = "http://queue.sim"
KEY = "fal-key-id:fal-key-secret-0123456789"


class SimTime:
    def __init__(self) -> None:
        self.time = 1_800_000_000.0

    def now(self) -> float:
        return self.time


def make_sim(**config: object) -> Simulator:
    config.setdefault("time_scale", 1.0)
    config.setdefault("media_scale", 0.125)
    config.setdefault("fps", 2)
    return Simulator(SimConfig.model_validate(config), clock=SimTime())


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = make_sim()
    yield simulator
    simulator.close()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as http:
        yield http


def fal(client: httpx.AsyncClient, **kwargs: object) -> FalProvider:
    kwargs.setdefault("base_url", QUEUE)
    kwargs.setdefault("api_key", KEY)
    return FalProvider(
        client,
        clock=FakeClock(),
        rng=random.Random(3),
        retry=RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=1.0),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def provider(client: httpx.AsyncClient) -> FalProvider:
    return fal(client)


def spec(**fields: object) -> JobSpec:
    fields.setdefault("prompt", "A red kite over the dunes at noon")
    fields.setdefault("provider", "fal")
    fields.setdefault("model", "fal-ai/veo3.1/fast")
    fields.setdefault("seconds", 4)
    return JobSpec(**fields)  # type: ignore[arg-type]


async def until_done(sim: Simulator, provider: FalProvider, remote_id: str) -> RemoteStatus:
    status = await provider.fetch(remote_id)
    for _ in range(200):
        if status.state.is_terminal:
            return status
        sim.advance(5.0)
        status = await provider.fetch(remote_id)
    raise AssertionError("the request never finished")


async def test_submit_poll_download_matches_the_sim_checksum(
    sim: Simulator, provider: FalProvider, tmp_path: Path
) -> None:
    created = await provider.submit(spec(resolution="1080p", aspect_ratio="9:16"))
    ids = created.remote_id.split("/requests/")
    assert ids[0] == "fal-ai/veo3.1"
    assert created.state is RemoteState.QUEUED
    assert created.provider_status == "IN_QUEUE (position 0)"
    [record] = sim.log.creates
    assert record.video_id == ids[1]
    assert record.model == "fal-ai/veo3.1/fast"
    assert record.seconds == "4"
    assert record.size == "1080x1920"

    done = await until_done(sim, provider, created.remote_id)
    assert done.state is RemoteState.COMPLETED
    result = await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "video.mp4")
    data = (tmp_path / "video.mp4").read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest() == sim.asset_sha256(ids[1])
    with av.open(tmp_path / "video.mp4") as container:
        assert container.streams.video[0].frames > 0 or container.duration

    paths = [r.path for r in sim.log.requests]
    assert "/fal-ai/veo3.1/fast" in paths
    assert not any(p.startswith("/fal-ai/veo3.1/fast/requests") for p in paths)
    assert any(p == f"/fal-ai/veo3.1/requests/{ids[1]}/status" for p in paths)


async def test_in_progress_and_not_ready(
    sim: Simulator, provider: FalProvider, tmp_path: Path
) -> None:
    created = await provider.submit(spec())
    view = sim.video(created.remote_id.rsplit("/", 1)[1])
    sim.advance((view.started_at - view.created_at) + 1)
    status = await provider.fetch(created.remote_id)
    assert status.state is RemoteState.IN_PROGRESS
    with pytest.raises(VideoNotReadyError):
        await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "v.mp4")


async def test_progress_comes_from_the_request_logs(sim: Simulator, provider: FalProvider) -> None:
    """fal has no progress field: the adapter asks for the logs and reads the latest
    percentage a line states (never 100 before the request is done)."""
    created = await provider.submit(spec())
    view = sim.video(created.remote_id.rsplit("/", 1)[1])
    run = view.finished_at - view.started_at
    sim.advance((view.started_at - view.created_at) + run * 0.55)
    status = await provider.fetch(created.remote_id)
    assert status.state is RemoteState.IN_PROGRESS
    assert 40 <= status.progress <= 60, status.progress
    assert any(r.path.endswith("/status") and "logs=1" in r.query for r in sim.log.requests), (
        "the status was fetched without its logs"
    )


async def test_completed_with_error_is_failed_with_fals_message_and_category() -> None:
    sim = make_sim(faults={"moderation_patterns": ["forbidden"], "generation_failure_rate": 0})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
            provider = fal(client)
            created = await provider.submit(spec(prompt="a forbidden scene"))
            done = await until_done(sim, provider, created.remote_id)
    finally:
        sim.close()
    assert done.state is RemoteState.FAILED
    assert done.error is not None
    assert done.error.category is ErrorCategory.CONTENT_POLICY
    assert done.error.code == "content_policy_violation"
    assert "flagged by a content checker" in done.error.message


async def test_runner_failure_is_generation_failed_or_timeout() -> None:
    sim = make_sim(faults={"generation_failure_rate": 1.0})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
            provider = fal(client)
            codes = {}
            for n in range(6):
                created = await provider.submit(spec(prompt=f"clip {n}"))
                done = await until_done(sim, provider, created.remote_id)
                assert done.state is RemoteState.FAILED
                assert done.error is not None
                codes[done.error.code] = done.error.category
    finally:
        sim.close()
    for code, category in codes.items():
        expected = (
            ErrorCategory.TIMEOUT
            if code in ("request_timeout", "startup_timeout")
            else ErrorCategory.GENERATION_FAILED
        )
        assert category is expected, code


async def test_nginx_502_after_create_is_ambiguous_and_sent_once() -> None:
    sim = make_sim(faults={"error_after_create_rate": 1.0, "server_error_status": 502})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
            with pytest.raises(AmbiguousSubmissionError) as raised:
                await fal(client).submit(spec())
    finally:
        sim.close()
    assert "ingress" in raised.value.message
    assert len(sim.log.creates) == 1
    assert [r.method for r in sim.log.requests] == ["POST"]


async def test_rate_limited_submit_is_retried_because_nothing_was_queued() -> None:
    sim = make_sim(faults={"max_in_flight": 1})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
            provider = fal(client)
            await provider.submit(spec())
            with pytest.raises(RateLimitedError):
                await provider.submit(spec(prompt="second"))
    finally:
        sim.close()
    assert len(sim.log.creates) == 1
    assert [r.status_code for r in sim.log.requests] == [200, 429, 429, 429]


async def test_validation_errors_carry_fals_message(provider: FalProvider, sim: Simulator) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        await provider.submit(spec(params={"duration": "5s"}))
    assert "duration" in raised.value.message
    assert "'4s', '6s' or '8s'" in raised.value.message
    assert raised.value.status_code == 422
    assert sim.log.creates == []


async def test_unknown_endpoint_is_not_found(provider: FalProvider, sim: Simulator) -> None:
    with pytest.raises(NotFoundError) as raised:
        await provider.submit(spec(model="fal-ai/nonexistent/model", params={"duration": 4}))
    assert raised.value.status_code == 404
    assert sim.log.creates == []


async def test_an_uncatalogued_endpoint_takes_its_params_as_given() -> None:
    sim = make_sim(extra_models={"acme/video-model/v2": {"seconds": [5]}})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
            created = await fal(client).submit(
                spec(model="acme/video-model/v2", seconds=5, params={"frames": 120})
            )
    finally:
        sim.close()
    assert created.remote_id.startswith("acme/video-model/requests/")
    [job] = sim.store.jobs
    assert job.data["input"] == {"prompt": "A red kite over the dunes at noon", "frames": 120}


async def test_wrong_key_is_auth_and_the_key_never_shows(client: httpx.AsyncClient) -> None:
    provider = fal(client, api_key=None)
    with pytest.raises(AuthError) as raised:
        await provider.submit(spec())
    assert KEY not in repr(fal(client))
    assert KEY not in str(raised.value)


async def test_list_and_derived_variants_are_unsupported(
    provider: FalProvider, tmp_path: Path
) -> None:
    with pytest.raises(UnsupportedOperationError) as listing:
        _ = [status async for status in provider.list_recent()]
    assert listing.value.operation == "list"
    with pytest.raises(UnsupportedOperationError) as thumb:
        await provider.download(
            "fal-ai/veo3.1/requests/abc", Variant.THUMBNAIL, tmp_path / "t.webp"
        )
    assert thumb.value.operation == "variant:thumbnail"


async def test_delete_cancels_and_a_completed_request_is_kept(
    sim: Simulator, provider: FalProvider
) -> None:
    queued = await provider.submit(spec())
    await provider.delete(queued.remote_id)
    canceled = await provider.fetch(queued.remote_id)
    assert canceled.state is RemoteState.CANCELED
    await provider.delete(queued.remote_id)  # again: already cancelled is fine

    done = await provider.submit(spec(prompt="finish me"))
    await until_done(sim, provider, done.remote_id)
    with pytest.raises(InvalidRequestError) as raised:
        await provider.delete(done.remote_id)
    assert raised.value.code == "already_completed"

    with pytest.raises(NotFoundError):
        await provider.delete("fal-ai/veo3.1/requests/00000000-0000-4000-8000-000000000000")


@pytest.mark.parametrize(
    "remote_id",
    [
        "../../etc/passwd",
        "fal-ai/veo3.1/fast/../requests/x",
        "fal-ai/veo3.1/requests/x/../../y",
        "fal-ai/veo3.1/requests/",
        "veo3.1/requests/abc",
        "fal-ai/veo3.1/requests/a b",
        "fal-ai/veo3.1/requests/%2e%2e",
        "http://evil.test/fal-ai/veo3.1/requests/abc",
    ],
)
async def test_path_like_ids_are_refused_before_sending(
    provider: FalProvider, sim: Simulator, remote_id: str
) -> None:
    with pytest.raises(ProtocolError) as raised:
        await provider.fetch(remote_id)
    assert raised.value.category is ErrorCategory.INVALID_REQUEST
    assert remote_id not in str(raised.value)
    assert sim.log.requests == []


async def test_webhook_url_carries_the_token(sim: Simulator, client: httpx.AsyncClient) -> None:
    provider = fal(client, public_url="https://forge.example.com/")
    created = await provider.submit(spec(), token="tok 1/2")
    assert created.token == "tok 1/2"
    [job] = sim.store.jobs
    assert job.data["webhook"] == "https://forge.example.com/hooks/fal?token=tok%201%2F2"
