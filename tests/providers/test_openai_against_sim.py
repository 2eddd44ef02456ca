"""The adapter against the simulator: the same code path as production, in-process."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from openai_fakes import FakeClock
from PIL import Image

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    AssetExpiredError,
    AuthError,
    EndpointGoneError,
    InvalidRequestError,
    NotFoundError,
)
from reelforge.core.models import JobSpec, RemoteState, RemoteStatus, Variant
from reelforge.providers import OpenAIVideosProvider, RetryPolicy
from reelforge.sim import EmbeddedSimulator, ExtraModel, FaultConfig, SimConfig, Simulator

SIM_URL = "http://sim/v1"
KEY = "sk-sim-test"


class SimTime:
    """The simulator's clock, moved by hand."""

    def __init__(self) -> None:
        self.time = 1_800_000_000.0

    def now(self) -> float:
        return self.time


@pytest.fixture
def sim() -> Iterator[Simulator]:
    config = SimConfig(
        time_scale=1.0,
        extra_models={"veo-3.1": ExtraModel(seconds=(4, 8), sizes=("1280x720",))},
    )
    simulator = Simulator(config, clock=SimTime())
    yield simulator
    simulator.close()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as http:
        yield http


@pytest.fixture
def provider(client: httpx.AsyncClient) -> OpenAIVideosProvider:
    return OpenAIVideosProvider(
        client, base_url=SIM_URL, api_key=KEY, clock=FakeClock(), rng=random.Random(3)
    )


async def wait_until_done(
    sim: Simulator, provider: OpenAIVideosProvider, video_id: str
) -> RemoteStatus:
    status = await provider.fetch(video_id)
    for _ in range(1000):
        if status.state.is_terminal:
            return status
        sim.advance(status.poll_after or 5.0)
        status = await provider.fetch(video_id)
    raise AssertionError("the job never finished")


async def test_submit_poll_and_download_every_variant(
    sim: Simulator, provider: OpenAIVideosProvider, tmp_path: Path
) -> None:
    created = await provider.submit(JobSpec(prompt="A red kite over dunes", seconds=4))

    assert created.state is RemoteState.QUEUED
    assert created.request_id is not None
    assert len(sim.log.creates) == 1
    assert sim.log.creates[0].seconds == "4"

    with pytest.raises(NotFoundError, match="not ready yet"):
        await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "early.mp4")

    done = await wait_until_done(sim, provider, created.remote_id)

    assert done.state is RemoteState.COMPLETED
    assert done.progress == 100
    assert done.expires_at is not None
    for variant in Variant:
        dest = tmp_path / variant.filename
        result = await provider.download(created.remote_id, variant, dest)
        assert result.sha256 == sim.asset_sha256(created.remote_id, variant)
        assert result.size == sim.asset_size(created.remote_id, variant)
        assert hashlib.sha256(dest.read_bytes()).hexdigest() == result.sha256


async def test_an_unfinished_job_reports_a_poll_hint(
    provider: OpenAIVideosProvider,
) -> None:
    created = await provider.submit(JobSpec(prompt="A lighthouse at dusk"))

    status = await provider.fetch(created.remote_id)

    assert status.poll_after is not None
    assert status.poll_after > 0


async def test_list_recent_pages_through_everything_newest_first(
    sim: Simulator, provider: OpenAIVideosProvider
) -> None:
    ids = []
    for n in range(205):
        ids.append((await provider.submit(JobSpec(prompt=f"Shot {n}"))).remote_id)
        sim.advance(1.0)

    listed = [status.remote_id async for status in provider.list_recent()]

    assert listed == list(reversed(ids))
    list_requests = [r for r in sim.log.requests if r.method == "GET" and r.path == "/v1/videos"]
    assert len(list_requests) == 3


async def test_list_recent_stops_at_since(sim: Simulator, provider: OpenAIVideosProvider) -> None:
    old = await provider.submit(JobSpec(prompt="Old shot"))
    sim.advance(100.0)
    cutoff = sim.now()
    new = await provider.submit(JobSpec(prompt="New shot"))

    listed = [status.remote_id async for status in provider.list_recent(since=cutoff)]

    assert listed == [new.remote_id]
    assert old.remote_id not in listed


async def test_remix_and_delete(sim: Simulator, provider: OpenAIVideosProvider) -> None:
    source = await provider.submit(JobSpec(prompt="A paper boat on a pond"))

    with pytest.raises(InvalidRequestError, match="only completed videos"):
        await provider.remix(source.remote_id, "At night")

    await wait_until_done(sim, provider, source.remote_id)
    remix = await provider.remix(source.remote_id, "At night")

    assert remix.remixed_from == source.remote_id
    assert remix.remote_id != source.remote_id
    assert [record.kind for record in sim.log.creates] == ["create", "remix"]

    await provider.delete(remix.remote_id)

    with pytest.raises(NotFoundError):
        await provider.fetch(remix.remote_id)


async def test_server_validation_errors_carry_the_servers_message(
    provider: OpenAIVideosProvider,
) -> None:
    with pytest.raises(InvalidRequestError, match=r"Supported values are: '4' and '8'") as caught:
        await provider.submit(JobSpec(prompt="A fox", model="veo-3.1", seconds=12, size="1280x720"))

    assert caught.value.param == "seconds"
    assert caught.value.request_id is not None


async def test_a_reference_image_goes_as_multipart(
    sim: Simulator, provider: OpenAIVideosProvider, tmp_path: Path
) -> None:
    good = tmp_path / "ref.png"
    Image.new("RGB", (720, 1280), "teal").save(good)
    wrong = tmp_path / "small.jpg"
    Image.new("RGB", (64, 64), "red").save(wrong)

    created = await provider.submit(JobSpec(prompt="Animate this", input_reference=good))

    assert created.state is RemoteState.QUEUED
    with pytest.raises(InvalidRequestError, match="Inpaint image must match"):
        await provider.submit(JobSpec(prompt="Animate this", input_reference=wrong))
    assert len(sim.log.creates) == 1


async def test_unknown_model_is_endpoint_gone(provider: OpenAIVideosProvider) -> None:
    with pytest.raises(EndpointGoneError, match="--base-url"):
        await provider.submit(JobSpec(prompt="A fox", model="kling-9", size="1280x720"))


async def test_a_wrong_key_cannot_see_another_keys_video(
    client: httpx.AsyncClient, provider: OpenAIVideosProvider
) -> None:
    created = await provider.submit(JobSpec(prompt="Private"))
    stranger = OpenAIVideosProvider(client, base_url=SIM_URL, api_key="sk-other")
    anonymous = OpenAIVideosProvider(client, base_url=SIM_URL, api_key=None)

    with pytest.raises(NotFoundError):
        await stranger.fetch(created.remote_id)
    with pytest.raises(AuthError):
        await anonymous.fetch(created.remote_id)


async def test_expired_assets_raise_asset_expired(
    sim: Simulator, provider: OpenAIVideosProvider, tmp_path: Path
) -> None:
    created = await provider.submit(JobSpec(prompt="Ephemeral"))
    await wait_until_done(sim, provider, created.remote_id)
    sim.advance(sim.config.expires_after + 1)

    with pytest.raises(AssetExpiredError):
        await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "video.mp4")


async def test_a_create_the_server_made_but_answered_5xx_is_ambiguous_and_sent_once() -> None:
    config = SimConfig(time_scale=1.0, faults=FaultConfig(error_after_create_rate=1.0))
    sim = Simulator(config, clock=SimTime())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as http:
            provider = OpenAIVideosProvider(http, base_url=SIM_URL, api_key=KEY, clock=FakeClock())
            with pytest.raises(AmbiguousSubmissionError):
                await provider.submit(JobSpec(prompt="Maybe created"))
            assert len(sim.log.creates) == 1
            assert [r.method for r in sim.log.requests] == ["POST"]
            listed = [status.prompt async for status in provider.list_recent()]
            assert listed == ["Maybe created"]  # what the engine reconciles against
    finally:
        sim.close()


@pytest.mark.slow
async def test_a_dropped_download_resumes_against_a_real_server(tmp_path: Path) -> None:
    config = SimConfig(
        time_scale=1000.0,
        faults=FaultConfig(drop_download_first=1, large_asset_bytes=3 * 1024 * 1024),
    )
    async with EmbeddedSimulator(config) as embedded, httpx.AsyncClient(timeout=30) as http:
        sim = embedded.sim
        provider = OpenAIVideosProvider(
            http,
            base_url=embedded.base_url,
            api_key=KEY,
            retry=RetryPolicy(base_delay=0.01, max_delay=0.05),
        )
        created = await provider.submit(JobSpec(prompt="A long take"))
        status = await wait_until_done(sim, provider, created.remote_id)
        assert status.state is RemoteState.COMPLETED

        result = await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "video.mp4")

        assert result.resumed == 1
        assert result.size == 3 * 1024 * 1024
        assert result.sha256 == sim.asset_sha256(created.remote_id, Variant.VIDEO)
        ranges = [r for r in sim.log.requests if r.path.endswith("/content")]
        assert len(ranges) == 2
