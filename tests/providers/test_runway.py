"""The Runway adapter against the simulator, in-process: the same code path as production."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai_fakes import FakeClock

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    ErrorCategory,
    InvalidRequestError,
    InvalidSpecError,
    NotFoundError,
    UnsupportedOperationError,
)
from reelforge.core.models import JobSpec, RemoteState, Variant
from reelforge.providers import RetryPolicy
from reelforge.providers.runway import RunwayProvider
from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig, Simulator
from reelforge.sim.config import RunwayConfig

SECRET = "key_runway_adapter_secret_0123456789"
MODEL = "gen4.5"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

MakeSim = Callable[..., Simulator]


@dataclass
class Wire(httpx.AsyncBaseTransport):
    """The simulator's app behind a transport that keeps every request it carried and can run
    a hook on each answer (to let time pass between two requests)."""

    sim: Simulator
    requests: list[httpx.Request] = field(default_factory=list)
    after: Callable[[httpx.Request], None] | None = None

    def __post_init__(self) -> None:
        self._app = httpx.ASGITransport(app=self.sim.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = await self._app.handle_async_request(request)
        if self.after is not None:
            self.after(request)
        return response

    def paths(self, method: str = "GET") -> list[str]:
        return [r.url.path for r in self.requests if r.method == method]


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


MakeProvider = Callable[..., tuple[RunwayProvider, Wire]]


@pytest.fixture
async def make_provider(clock: FakeClock) -> AsyncIterator[MakeProvider]:
    clients: list[httpx.AsyncClient] = []

    def make(sim: Simulator, **kwargs: Any) -> tuple[RunwayProvider, Wire]:
        wire = Wire(sim)
        client = httpx.AsyncClient(transport=wire)
        clients.append(client)
        kwargs.setdefault("base_url", "http://sim")
        kwargs.setdefault("api_secret", SECRET)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("rng", random.Random(3))
        kwargs.setdefault("retry", RetryPolicy(max_attempts=4))
        return RunwayProvider(client, **kwargs), wire

    yield make
    for client in clients:
        await client.aclose()


def spec(prompt: str = "a heron takes off from a misty lake", **fields: Any) -> JobSpec:
    fields.setdefault("model", MODEL)
    fields.setdefault("seconds", 4)
    return JobSpec(prompt=prompt, provider="runway", **fields)


def start(sim: Simulator, clock: FakeClock, remote_id: str) -> None:
    clock.time = max(clock.time, sim.video(remote_id).started_at + 0.5)


def finish(sim: Simulator, clock: FakeClock, remote_id: str) -> None:
    clock.time = max(clock.time, sim.video(remote_id).finished_at + 0.001)


async def test_text_to_video_submit_poll_and_download(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_sim()
    provider, wire = make_provider(sim)
    created = await provider.submit(spec(aspect_ratio="9:16", seed=7))
    assert created.state is RemoteState.QUEUED
    assert created.provider_status == "PENDING"
    [job] = sim.store.jobs
    assert job.data["route"] == "text_to_video"
    assert job.data["input"] == {
        "model": MODEL,
        "promptText": "a heron takes off from a misty lake",
        "duration": 4,
        "ratio": "720:1280",
        "seed": 7,
    }
    start(sim, clock, created.remote_id)
    running = await provider.fetch(created.remote_id)
    assert running.state is RemoteState.IN_PROGRESS
    assert running.provider_status == "RUNNING"
    assert 0 <= running.progress <= 99
    finish(sim, clock, created.remote_id)
    done = await provider.fetch(created.remote_id)
    assert (done.state, done.progress) == (RemoteState.COMPLETED, 100)
    result = await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "video.mp4")
    assert result.sha256 == sim.asset_sha256(created.remote_id)
    data = (tmp_path / "video.mp4").read_bytes()
    assert hashlib.sha256(data).hexdigest() == result.sha256
    assert sim.video(created.remote_id).size == "720x1280"
    assert wire.paths("POST") == ["/v1/text_to_video"]
    # Every request names the API version; the key never leaves for the file.
    assert all(r.headers.get("x-runway-version") == "2024-11-06" for r in wire.requests)
    assert [c.video_id for c in sim.log.creates] == [created.remote_id]


async def test_image_to_video_sends_the_image_as_a_data_url(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock, tmp_path: Path
) -> None:
    image = tmp_path / "frame.png"
    image.write_bytes(PNG)
    sim = make_sim()
    provider, wire = make_provider(sim)
    created = await provider.submit(spec(image=str(image), model="veo3.1_fast", seconds=4))
    [job] = sim.store.jobs
    assert job.data["route"] == "image_to_video"
    assert str(job.data["input"]["promptImage"]).startswith("data:image/png;base64,")
    assert wire.paths("POST") == ["/v1/image_to_video"]
    finish(sim, clock, created.remote_id)
    result = await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "v.mp4")
    assert result.sha256 == sim.asset_sha256(created.remote_id)


async def test_an_image_too_large_to_send_inline_is_refused_before_sending(
    make_sim: MakeSim, make_provider: MakeProvider, tmp_path: Path
) -> None:
    image = tmp_path / "big.png"
    image.write_bytes(PNG + bytes(4 * 1024 * 1024))  # over 5 MB once base64-encoded
    sim = make_sim()
    provider, wire = make_provider(sim)
    with pytest.raises(InvalidSpecError) as refused:
        await provider.submit(spec(image=str(image)))
    assert refused.value.field == "image"
    assert wire.requests == []


async def test_an_output_url_that_expires_before_the_download_is_refreshed(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_sim(runway=RunwayConfig(output_url_ttl=5))
    provider, wire = make_provider(sim)
    created = await provider.submit(spec())
    finish(sim, clock, created.remote_id)
    task_path = f"/v1/tasks/{created.remote_id}"
    reads: list[str] = []

    def slow_first_read(request: httpx.Request) -> None:
        if request.url.path == task_path:
            reads.append(request.url.path)
            if len(reads) == 1:
                clock.time += 6  # the first URL has expired by the time it is used

    wire.after = slow_first_read
    result = await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "v.mp4")
    assert result.sha256 == sim.asset_sha256(created.remote_id)
    assert len(reads) == 2
    files = [r for r in wire.requests if r.url.path.startswith("/_runway/")]
    assert len(files) == 2
    assert files[0].url.params["_jwt"] != files[1].url.params["_jwt"]


class SimTime:
    """The provider's clock on a served simulator: its backoff sleeps move the simulator's
    time instead of waiting."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def now(self) -> float:
        return self.sim.now()

    async def sleep(self, seconds: float) -> None:
        self.sim.advance(max(seconds, 1.0))


async def test_an_output_url_that_expires_mid_download_resumes_with_a_fresh_one(
    tmp_path: Path,
) -> None:
    # On a real socket the first transfer is cut part-way; the backoff outlasts the URL, so
    # the resume is refused (403), the task is read again and the part continues.
    config = SimConfig(
        time_scale=1.0,
        media_scale=0.125,
        fps=2,
        runway=RunwayConfig(output_url_ttl=0.5),
        faults=FaultConfig(drop_download_first=1, large_asset_bytes=1_000_000),
    )
    async with EmbeddedSimulator(config) as served, httpx.AsyncClient(timeout=30) as http:
        sim = served.sim
        provider = RunwayProvider(http, base_url=served.url, api_secret=SECRET, clock=SimTime(sim))
        created = await provider.submit(spec())
        sim.advance(sim.video(created.remote_id).finished_at - sim.now() + 1)
        result = await provider.download(created.remote_id, Variant.VIDEO, tmp_path / "v.mp4")
        assert result.sha256 == sim.asset_sha256(created.remote_id)
        assert result.size == 1_000_000
        assert result.resumed == 1
        reads = [r for r in sim.log.requests if r.path == f"/v1/tasks/{created.remote_id}"]
        assert len(reads) == 2
    assert not (tmp_path / "v.mp4.part").exists()


async def test_throttled_is_queued_and_keeps_its_word(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock
) -> None:
    sim = make_sim(runway=RunwayConfig(concurrency=1))
    provider, _ = make_provider(sim)
    first = await provider.submit(spec("first clip"))
    second = await provider.submit(spec("second clip"))
    second_job = sim.store.any(second.remote_id)
    assert second_job is not None
    assert second_job.started_at >= sim.video(first.remote_id).finished_at
    clock.time = second_job.data["pending_until"] + 0.01
    assert clock.time < sim.video(first.remote_id).finished_at
    running, waiting = await provider.fetch(first.remote_id), await provider.fetch(second.remote_id)
    assert running.state is RemoteState.IN_PROGRESS
    assert (waiting.state, waiting.provider_status) == (RemoteState.QUEUED, "THROTTLED")
    start(sim, clock, second.remote_id)
    assert (await provider.fetch(second.remote_id)).state is RemoteState.IN_PROGRESS


async def test_a_5xx_after_the_create_is_ambiguous_and_sent_once(
    make_sim: MakeSim, make_provider: MakeProvider
) -> None:
    sim = make_sim(faults={"error_after_create_rate": 1.0})
    provider, wire = make_provider(sim)
    with pytest.raises(AmbiguousSubmissionError):
        await provider.submit(spec())
    assert len(sim.log.creates) == 1
    assert wire.paths("POST") == ["/v1/text_to_video"]


async def test_failures_map_to_their_categories(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock
) -> None:
    sim = make_sim(faults={"moderation_patterns": ["forbidden"]})
    provider, _ = make_provider(sim)
    blocked = await provider.submit(spec("a forbidden scene"))
    finish(sim, clock, blocked.remote_id)
    status = await provider.fetch(blocked.remote_id)
    assert status.state is RemoteState.FAILED
    assert status.error is not None
    assert status.error.category is ErrorCategory.CONTENT_POLICY
    assert status.error.code == "SAFETY.INPUT.TEXT"
    broken = make_sim(faults={"generation_failure_rate": 1.0})
    provider, _ = make_provider(broken)
    failed = await provider.submit(spec())
    finish(broken, clock, failed.remote_id)
    status = await provider.fetch(failed.remote_id)
    assert status.error is not None
    assert status.error.category is ErrorCategory.GENERATION_FAILED
    assert status.error.message


async def test_delete_cancels_a_running_task_and_deletes_a_finished_one(
    make_sim: MakeSim, make_provider: MakeProvider, clock: FakeClock
) -> None:
    sim = make_sim()
    provider, _ = make_provider(sim)
    running = await provider.submit(spec("one"))
    done = await provider.submit(spec("two"))
    start(sim, clock, running.remote_id)
    await provider.delete(running.remote_id)
    status = await provider.fetch(running.remote_id)
    assert (status.state, status.provider_status) == (RemoteState.CANCELED, "CANCELLED")
    finish(sim, clock, done.remote_id)
    await provider.delete(done.remote_id)
    with pytest.raises(NotFoundError):
        await provider.fetch(done.remote_id)


async def test_listing_and_stills_are_unsupported(
    make_sim: MakeSim, make_provider: MakeProvider, tmp_path: Path
) -> None:
    provider, wire = make_provider(make_sim())
    with pytest.raises(UnsupportedOperationError) as listing:
        _ = [status async for status in provider.list_recent()]
    assert listing.value.operation == "list"
    with pytest.raises(UnsupportedOperationError) as still:
        await provider.download("abc", Variant.THUMBNAIL, tmp_path / "t.webp")
    assert still.value.operation == "variant:thumbnail"
    assert wire.requests == []


async def test_a_refused_body_names_the_field_and_creates_nothing(
    make_sim: MakeSim, make_provider: MakeProvider
) -> None:
    sim = make_sim()
    provider, _ = make_provider(sim)
    with pytest.raises(InvalidRequestError) as refused:
        await provider.submit(spec(params={"ratio": "1:1"}))
    assert refused.value.status_code == 400
    assert refused.value.param == "ratio"
    assert "ratio" in refused.value.message
    assert sim.log.creates == []


def test_the_secret_is_not_in_the_repr() -> None:
    provider = RunwayProvider(httpx.AsyncClient(), base_url="http://sim", api_secret=SECRET)
    assert SECRET not in repr(provider)
    assert "sim" in repr(provider)
