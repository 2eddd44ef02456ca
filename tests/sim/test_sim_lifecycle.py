"""Jobs progress lazily on the injected clock: queued, in_progress with rising progress, done."""

from __future__ import annotations

import httpx
import pytest
from simkit import FakeClock, SimFactory, client_for, create, finish

from reelforge.core.models import RemoteState
from reelforge.sim import DEFAULT_TIME_SCALE, SimConfig, Simulator


async def test_status_progresses_to_completed(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    video = await create(client, seconds="4")
    view = sim.video(video["id"])
    assert view.status is RemoteState.QUEUED
    seen: list[tuple[str, int]] = []
    steps = 40
    span = view.finished_at - view.created_at
    for _ in range(steps + 1):
        body = (await client.get(f"/videos/{video['id']}")).json()
        seen.append((body["status"], body["progress"]))
        clock.tick(span / steps * 1.01)
    statuses = [s for s, _ in seen]
    assert statuses[0] == "queued"
    assert "in_progress" in statuses
    assert statuses[-1] == "completed"
    progress = [p for _, p in seen]
    assert progress == sorted(progress)
    assert all(0 <= p <= 100 for p in progress)
    assert len({p for s, p in seen if s == "in_progress"}) > 5
    assert all(p < 100 for s, p in seen if s != "completed")
    done = (await client.get(f"/videos/{video['id']}")).json()
    assert done["progress"] == 100
    assert done["completed_at"] == int(view.finished_at)
    # Assets live one hour of simulated time (time_scale 1 here).
    assert done["expires_at"] == int(view.finished_at + 3600)


async def test_poll_hint_follows_remaining_time(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    video = await create(client)
    first = await client.get(f"/videos/{video['id']}")
    hint = int(first.headers["openai-poll-after-ms"])
    remaining_ms = (sim.video(video["id"]).finished_at - clock.now()) * 1000
    assert 0 < hint <= remaining_ms
    finish(sim, clock, video["id"])
    assert "openai-poll-after-ms" not in (await client.get(f"/videos/{video['id']}")).headers


async def test_content_before_completion_and_after_expiry(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    video = await create(client)
    early = await client.get(f"/videos/{video['id']}/content")
    assert early.status_code == 404
    assert early.json()["error"]["message"].startswith("Video is not ready yet")
    finish(sim, clock, video["id"])
    assert (await client.get(f"/videos/{video['id']}/content")).status_code == 200
    sim.advance(3600)
    expired = await client.get(f"/videos/{video['id']}/content")
    assert expired.status_code == 404
    assert set(expired.json()["error"]) == {"message", "type", "param", "code"}
    assert "expired" in expired.json()["error"]["message"]
    still = (await client.get(f"/videos/{video['id']}")).json()
    assert still["status"] == "completed"


def _durations(sim: Simulator, model: str, seconds: int) -> float:
    job = sim.store.create(
        api_key_id="k", prompt="p", model=model, seconds=seconds, size="720x1280", now=0.0
    )
    return job.finished_at - job.created_at


def test_durations_grow_with_seconds_and_pro_is_slower(make_sim: SimFactory) -> None:
    sim = make_sim(jitter=0.0)
    four, eight, twelve = (_durations(sim, "sora-2", s) for s in (4, 8, 12))
    assert four < eight < twelve
    assert _durations(sim, "sora-2-pro", 4) > 1.5 * four


def test_jitter_is_seeded(clock: FakeClock) -> None:
    def timings(seed: int) -> list[float]:
        sim = Simulator(SimConfig(seed=seed, time_scale=1), clock=clock)
        try:
            return [_durations(sim, "sora-2", 4) for _ in range(5)]
        finally:
            sim.close()

    assert timings(7) == timings(7)
    assert timings(7) != timings(8)
    assert len(set(timings(7))) == 5


def test_ids_are_seeded_video_hex(clock: FakeClock) -> None:
    first = Simulator(SimConfig(seed=3), clock=clock)
    second = Simulator(SimConfig(seed=3), clock=clock)
    try:
        ids = [first.store.new_id() for _ in range(3)]
        assert ids == [second.store.new_id() for _ in range(3)]
        assert all(i.startswith("video_") and int(i[6:], 16) >= 0 for i in ids)
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(("model", "seconds"), [("sora-2", 4), ("sora-2-pro", 12)])
def test_default_time_scale_finishes_in_seconds(clock: FakeClock, model: str, seconds: int) -> None:
    sim = Simulator(SimConfig(), clock=clock)
    try:
        assert sim.config.time_scale == DEFAULT_TIME_SCALE
        real = _durations(sim, model, seconds)
        simulated = real * DEFAULT_TIME_SCALE
        if model == "sora-2":
            assert 1.0 < real < 4.0
            assert 60 <= simulated <= 120
        else:
            assert real < 15.0
    finally:
        sim.close()


def test_realistic_scale_takes_minutes(clock: FakeClock) -> None:
    sim = Simulator(SimConfig(time_scale=1), clock=clock)
    try:
        assert _durations(sim, "sora-2", 4) > 60
    finally:
        sim.close()


async def test_max_in_flight_seen_is_exact(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = make_sim()
    async with client_for(sim, "sk-a") as a, client_for(sim, "sk-b") as b:
        first = await create(a)
        await create(a)
        await create(b)
        finish(sim, clock, first["id"])
        for view in list(sim.videos.values()):
            clock.t = max(clock.t, view.finished_at + 1)
        await create(a)
    from reelforge.sim import api_key_id

    assert sim.max_in_flight_seen() == 3
    assert sim.max_in_flight_seen(api_key_id("sk-a")) == 2
    assert sim.max_in_flight_seen(api_key_id("sk-b")) == 1


async def test_delete_frees_an_in_flight_slot(make_sim: SimFactory) -> None:
    sim = make_sim()
    async with client_for(sim) as c:
        video = await create(c)
        await c.delete(f"/videos/{video['id']}")
        await create(c)
    assert sim.max_in_flight_seen() == 1
    assert sim.videos[video["id"]].deleted is True
