"""The Vertex adapter against the simulator, in-process: the same code path as production."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai_fakes import FakeClock
from test_vertex_kit import LOCATION, MODEL, PROJECT, credentials, vertex_config

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    ErrorCategory,
    UnsupportedOperationError,
)
from reelforge.core.models import JobSpec, RemoteState, RemoteStatus, Variant
from reelforge.providers import RetryPolicy
from reelforge.providers.vertex import VertexProvider
from reelforge.sim import SimConfig, Simulator
from reelforge.sim.vertex import tokens

MakeSim = Callable[..., Simulator]
MakeProvider = Callable[..., VertexProvider]


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
        config["vertex"] = vertex_config(**config.get("vertex", {}))
        sim = Simulator(SimConfig(**config), clock=clock)
        made.append(sim)
        return sim

    yield factory
    for sim in made:
        sim.close()


@pytest.fixture
async def make_provider(clock: FakeClock) -> AsyncIterator[MakeProvider]:
    clients: list[httpx.AsyncClient] = []

    def make(sim: Simulator, **kwargs: Any) -> VertexProvider:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app))
        clients.append(client)
        kwargs.setdefault("base_url", "http://sim")
        kwargs.setdefault("project", PROJECT)
        kwargs.setdefault("location", LOCATION)
        kwargs.setdefault("credentials", credentials("http://sim/token"))
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("rng", random.Random(3))
        kwargs.setdefault("retry", RetryPolicy(max_attempts=3))
        return VertexProvider(client, **kwargs)

    yield make
    for client in clients:
        await client.aclose()


def spec(prompt: str = "A heron fishing at dawn", **fields: Any) -> JobSpec:
    fields.setdefault("model", MODEL)
    fields.setdefault("seconds", 4)
    return JobSpec(prompt=prompt, **fields)


def operation_id(remote_id: str) -> str:
    return remote_id.rpartition("/operations/")[2]


def finish(sim: Simulator, clock: FakeClock, remote_id: str) -> None:
    clock.time = max(clock.time, sim.video(operation_id(remote_id)).finished_at + 0.001)


async def test_submit_poll_download_inline(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_sim()
    provider = make_provider(sim)
    created = await provider.submit(spec())
    prefix = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{MODEL}"
    assert created.remote_id.startswith(prefix + "/operations/")
    assert created.state is RemoteState.QUEUED
    running = await provider.fetch(created.remote_id)
    assert running.state is RemoteState.IN_PROGRESS
    assert running.progress == 0
    finish(sim, clock, created.remote_id)
    done = await provider.fetch(created.remote_id)
    assert done.state is RemoteState.COMPLETED
    result = await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "clip.mp4")
    video_id = operation_id(created.remote_id)
    assert result.sha256 == sim.asset_sha256(video_id, Variant.VIDEO)
    assert (tmp_path / "clip.mp4").stat().st_size == result.size
    assert not (tmp_path / "clip.mp4.part").exists()
    assert [record.video_id for record in sim.log.creates] == [video_id]


async def test_download_from_cloud_storage(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_sim()
    provider = make_provider(sim, storage_uri="gs://reel-bucket/renders/")
    created = await provider.submit(spec())
    finish(sim, clock, created.remote_id)
    result = await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "clip.mp4")
    assert result.sha256 == sim.asset_sha256(operation_id(created.remote_id), Variant.VIDEO)
    paths = [record.path for record in sim.log.requests]
    assert any(path.startswith("/storage/v1/b/reel-bucket/o/") for path in paths)


async def test_a_token_expiring_mid_batch_is_refreshed_before_use(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_sim(vertex={"token_lifetime": 60})
    provider = make_provider(sim)
    jobs: list[RemoteStatus] = []
    for index in range(3):
        jobs.append(await provider.submit(spec(f"clip {index}")))
        clock.time += 50  # each job outlives a token's refresh point
    for job in jobs:
        finish(sim, clock, job.remote_id)
        status = await provider.fetch(job.remote_id)
        assert status.state is RemoteState.COMPLETED
        await provider.download(
            job.remote_id, Variant.VIDEO, tmp_path / f"{job.remote_id[-8:]}.mp4"
        )
    assert provider.token_refreshes >= 3
    assert not [record for record in sim.log.requests if record.status_code == 401]
    assert len(sim.log.creates) == 3


async def test_a_401_refreshes_the_token_once(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock
) -> None:
    sim = make_sim()
    provider = make_provider(sim)
    created = await provider.submit(spec())
    tokens(sim).tokens.clear()  # the server forgets every token it issued
    status = await provider.fetch(created.remote_id)
    assert status.state is RemoteState.IN_PROGRESS
    assert provider.token_refreshes == 2
    assert [record.status_code for record in sim.log.requests].count(401) == 1


async def test_safety_filtered_is_failed_content_policy_with_reasons(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock
) -> None:
    sim = make_sim(faults={"moderation_patterns": ["forbidden"]})
    provider = make_provider(sim)
    created = await provider.submit(spec("a forbidden scene"))
    finish(sim, clock, created.remote_id)
    status = await provider.fetch(created.remote_id)
    assert status.state is RemoteState.FAILED
    assert status.error is not None
    assert status.error.category is ErrorCategory.CONTENT_POLICY
    assert "Support codes" in status.error.message


async def test_generation_failure_is_failed_generation(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock
) -> None:
    sim = make_sim(faults={"generation_failure_rate": 1.0})
    provider = make_provider(sim)
    created = await provider.submit(spec())
    finish(sim, clock, created.remote_id)
    status = await provider.fetch(created.remote_id)
    assert status.state is RemoteState.FAILED
    assert status.error is not None
    assert status.error.category is ErrorCategory.GENERATION_FAILED
    assert status.error.code == "13"


async def test_a_5xx_after_create_is_ambiguous_and_sent_once(
    make_sim: MakeSim, make_provider: MakeProvider
) -> None:
    sim = make_sim(faults={"error_after_create_rate": 1.0})
    provider = make_provider(sim)
    with pytest.raises(AmbiguousSubmissionError):
        await provider.submit(spec())
    assert len(sim.log.creates) == 1
    posts = [r for r in sim.log.requests if r.path.endswith(":predictLongRunning")]
    assert len(posts) == 1


async def test_list_delete_and_stills_are_not_offered(
    make_sim: MakeSim, make_provider: MakeProvider, tmp_path: Path
) -> None:
    provider = make_provider(make_sim())
    with pytest.raises(UnsupportedOperationError) as listing:
        async for _ in provider.list_recent():
            pass
    assert listing.value.operation == "list"
    created = await provider.submit(spec())
    with pytest.raises(UnsupportedOperationError) as deleting:
        await provider.delete(created.remote_id)
    assert deleting.value.operation == "delete"
    with pytest.raises(UnsupportedOperationError) as still:
        await provider.download(created.remote_id, Variant.THUMBNAIL, tmp_path / "t.webp")
    assert still.value.operation == "variant:thumbnail"


async def test_a_cloud_storage_download_continues_an_earlier_part(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_sim()
    provider = make_provider(sim, storage_uri="gs://reel-bucket/renders")
    created = await provider.submit(spec())
    finish(sim, clock, created.remote_id)
    first = await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "a.mp4")
    data = first.path.read_bytes()
    (tmp_path / "b.mp4.part").write_bytes(data[: len(data) // 2])
    again = await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "b.mp4")
    assert again.range_supported is True
    assert again.sha256 == first.sha256


async def test_a_short_lived_token_is_refreshed_on_the_real_clock(tmp_path: Path) -> None:
    # google-auth computes the expiry itself from expires_in; nothing here is faked.
    sim = Simulator(
        SimConfig(time_scale=400, media_scale=0.125, fps=2, vertex=vertex_config(token_lifetime=2))
    )
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
            provider = VertexProvider(
                client,
                project=PROJECT,
                location=LOCATION,
                base_url="http://sim",
                credentials=credentials("http://sim/token"),
            )
            created = await provider.submit(spec())
            await asyncio.sleep(2.1)  # the first token is gone
            status = await provider.fetch(created.remote_id)
            while not status.state.is_terminal:
                await asyncio.sleep(0.1)
                status = await provider.fetch(created.remote_id)
            assert status.state is RemoteState.COMPLETED
            await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "v.mp4")
        assert provider.token_refreshes >= 2  # (a slow machine may also meet one 401: fine)
    finally:
        sim.close()
