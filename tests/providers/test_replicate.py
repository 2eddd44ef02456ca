"""The Replicate adapter against the simulator, in-process: the same code path as production."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai_fakes import FakeClock

from reelforge.core.capabilities import capabilities_for, validate_spec
from reelforge.core.errors import (
    AmbiguousSubmissionError,
    AssetExpiredError,
    ErrorCategory,
    InvalidRequestError,
    UnsupportedOperationError,
)
from reelforge.core.models import JobSpec, RemoteState, Variant
from reelforge.providers import RetryPolicy
from reelforge.providers.inputs import model_input
from reelforge.providers.replicate import ReplicateProvider
from reelforge.sim import SimConfig, Simulator
from reelforge.sim.config import ReplicateConfig

TOKEN = "r8_adapter_secret_token"
MODEL = "google/veo-3.1-fast"

MakeSim = Callable[..., Simulator]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sim(clock: FakeClock) -> Iterator[MakeSim]:
    made: list[Simulator] = []

    def factory(**config: Any) -> Simulator:
        config.setdefault("time_scale", 1.0)
        config.setdefault("media_scale", 0.125)
        config.setdefault("fps", 2)
        sim = Simulator(SimConfig(**config), clock=clock)
        made.append(sim)
        return sim

    yield factory
    for sim in made:
        sim.close()


MakeProvider = Callable[..., ReplicateProvider]


@pytest.fixture
async def make_provider(clock: FakeClock) -> AsyncIterator[Callable[..., ReplicateProvider]]:
    clients: list[httpx.AsyncClient] = []

    def make(sim: Simulator, **kwargs: Any) -> ReplicateProvider:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app))
        clients.append(client)
        kwargs.setdefault("base_url", "http://sim")
        kwargs.setdefault("api_token", TOKEN)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("rng", random.Random(3))
        kwargs.setdefault("retry", RetryPolicy(max_attempts=4))
        return ReplicateProvider(client, **kwargs)

    yield make
    for client in clients:
        await client.aclose()


def spec(prompt: str = "a heron takes off from a misty lake", **fields: Any) -> JobSpec:
    fields.setdefault("model", MODEL)
    fields.setdefault("seconds", 4)
    return JobSpec(prompt=prompt, provider="replicate", **fields)


def finish(sim: Simulator, clock: FakeClock, remote_id: str) -> None:
    clock.time = max(clock.time, sim.video(remote_id).finished_at + 0.001)


async def test_submit_poll_and_download_a_decodable_video(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_sim()
    provider = make_provider(sim)
    created = await provider.submit(spec(resolution="720p"), token="job-1", cancel_after=1800)
    assert created.state is RemoteState.QUEUED
    assert created.provider_status == "starting"
    assert created.input == model_input(
        validate_spec(spec(resolution="720p")), capabilities_for(MODEL, "replicate")
    )
    [job] = sim.store.jobs
    assert job.data["headers"] == {"cancel-after": "30m"}  # and no Prefer header
    assert job.data["webhook"] is None
    clock.time = sim.video(created.remote_id).started_at + 1
    running = await provider.fetch(created.remote_id)
    assert running.state is RemoteState.IN_PROGRESS
    finish(sim, clock, created.remote_id)
    done = await provider.fetch(created.remote_id)
    assert done.state is RemoteState.COMPLETED
    assert done.completed_at is not None
    assert done.expires_at == done.completed_at + 3600
    assert (done.prompt, done.model, done.seconds) == (created.prompt, MODEL, 4)
    result = await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "video.mp4")
    assert result.sha256 == sim.asset_sha256(created.remote_id)
    data = (tmp_path / "video.mp4").read_bytes()
    assert hashlib.sha256(data).hexdigest() == result.sha256
    assert sim.video(created.remote_id).size == "1280x720"
    assert [r.path for r in sim.log.requests if r.method == "POST"] == [
        f"/v1/models/{MODEL}/predictions"
    ]


async def test_a_public_url_asks_for_a_completion_webhook_with_the_token(
    make_sim: MakeSim, make_provider: MakeProvider
) -> None:
    sim = make_sim()
    provider = make_provider(sim, public_url="https://forge.example/")
    await provider.submit(spec(), token="tok 1")
    [job] = sim.store.jobs
    assert job.data["webhook"] == "https://forge.example/hooks/replicate?token=tok+1"
    assert job.data["webhook_events_filter"] == ["completed"]
    assert job.data["headers"] == {}


async def test_a_5xx_after_the_create_is_ambiguous_and_sent_once(
    make_sim: MakeSim, make_provider: MakeProvider
) -> None:
    sim = make_sim(faults={"error_after_create_rate": 1.0})
    provider = make_provider(sim)
    with pytest.raises(AmbiguousSubmissionError):
        await provider.submit(spec())
    assert len(sim.log.creates) == 1
    assert sum(1 for r in sim.log.requests if r.method == "POST") == 1


async def test_a_429_waits_for_ratelimit_reset_then_succeeds(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock
) -> None:
    sim = make_sim(requests_per_minute=2)
    provider = make_provider(sim)
    first = await provider.submit(spec())
    await provider.fetch(first.remote_id)
    second = await provider.submit(spec("a second heron"))  # the window is full: 429 first
    assert second.remote_id != first.remote_id
    assert [r.status_code for r in sim.log.requests] == [201, 200, 429, 201]
    assert len(clock.sleeps) == 1
    assert 59 <= clock.sleeps[0] <= 60  # ratelimit-reset, whole seconds
    assert len(sim.log.creates) == 2


async def test_list_recent_follows_pages_and_filters_by_creation(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock
) -> None:
    sim = make_sim(replicate=ReplicateConfig(page_size=2))
    provider = make_provider(sim)
    made = []
    for index in range(5):
        made.append(await provider.submit(spec(f"clip number {index}")))
        clock.time += 10
    listed = [status async for status in provider.list_recent()]
    assert [s.remote_id for s in listed] == [s.remote_id for s in reversed(made)]
    assert all(s.input is not None and s.input["prompt"] == s.prompt for s in listed)
    since = made[2].created_at
    assert since is not None
    recent = [status async for status in provider.list_recent(since=since)]
    assert [s.remote_id for s in recent] == [s.remote_id for s in reversed(made[2:])]
    queries = [r.query for r in sim.log.requests if r.path == "/v1/predictions"]
    assert any("created_after=" in q for q in queries)
    assert sum("cursor=" in q for q in queries) >= 3


async def test_removed_data_is_expired_and_its_download_refused(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_sim(replicate=ReplicateConfig(data_retention=100))
    provider = make_provider(sim)
    created = await provider.submit(spec())
    finish(sim, clock, created.remote_id)
    clock.time += 100
    status = await provider.fetch(created.remote_id)
    assert status.state is RemoteState.EXPIRED
    assert status.error is not None
    assert "removed by Replicate before they were downloaded" in status.error.message
    with pytest.raises(AssetExpiredError):
        await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "v.mp4")
    assert not (tmp_path / "v.mp4").exists()


async def test_failures_deadlines_and_cancels_map_to_states(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock
) -> None:
    sim = make_sim(faults={"moderation_patterns": ["forbidden"]})
    provider = make_provider(sim)
    flagged = await provider.submit(spec("something forbidden"))
    aborted = await provider.submit(spec("never starts"), cancel_after=5)
    timed_out = await provider.submit(spec("runs out of time"), cancel_after=20)
    canceled = await provider.submit(spec("canceled by hand"))
    clock.time = sim.video(canceled.remote_id).started_at + 0.5
    await provider.delete(canceled.remote_id)
    clock.time += 10_000
    policy = await provider.fetch(flagged.remote_id)
    assert policy.state is RemoteState.FAILED
    assert policy.error is not None
    assert policy.error.category is ErrorCategory.CONTENT_POLICY
    assert policy.error.code == "E005"
    never = await provider.fetch(aborted.remote_id)
    assert (never.state, never.provider_status) == (RemoteState.FAILED, "aborted")
    assert never.error is not None
    assert never.error.category is ErrorCategory.TIMEOUT
    late = await provider.fetch(timed_out.remote_id)
    assert (late.state, late.provider_status) == (RemoteState.FAILED, "canceled")
    assert late.error is not None
    assert late.error.category is ErrorCategory.TIMEOUT
    stopped = await provider.fetch(canceled.remote_id)
    assert stopped.state is RemoteState.CANCELED
    with pytest.raises(UnsupportedOperationError) as finished:
        await provider.delete(flagged.remote_id)
    assert finished.value.operation == "delete"


async def test_thumbnails_are_not_served(
    make_sim: MakeSim, make_provider: MakeProvider, tmp_path: Path
) -> None:
    provider = make_provider(make_sim())
    for variant in (Variant.THUMBNAIL, Variant.SPRITESHEET):
        with pytest.raises(UnsupportedOperationError) as refused:
            await provider.download("abc", variant, tmp_path / variant.filename)
        assert refused.value.operation == f"variant:{variant.value}"


async def test_a_refused_input_names_the_field_and_never_shows_the_token(
    make_sim: MakeSim, make_provider: MakeProvider
) -> None:
    sim = make_sim()
    provider = make_provider(sim)
    with pytest.raises(InvalidRequestError) as refused:
        await provider.submit(spec(params={"duration": 7}))
    assert refused.value.status_code == 422
    assert refused.value.param == "input.duration"
    assert "4, 6, 8" in str(refused.value)
    assert TOKEN not in repr(provider)
    assert TOKEN not in str(refused.value)
    assert sim.log.creates == []
