"""Every injected fault: what the client sees, what the server did, and what the log says."""

from __future__ import annotations

import hashlib
import time

import pytest
from simkit import FakeClock, SimFactory, client_for, create, finish

from reelforge.core.models import RemoteState, Variant
from reelforge.sim import FaultConfig, RateLimitBurst
from reelforge.sim.content import SimulatedDisconnect


async def test_moderation_blocks_matching_prompts(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = make_sim(faults=FaultConfig(moderation_patterns=(r"\bbrand[- ]?x\b", "celebrity")))
    async with client_for(sim) as c:
        blocked = await create(c, prompt="A Celebrity drinking Brand-X soda")
        fine = await create(c, prompt="A cat drinking water")
        finish(sim, clock, blocked["id"])
        finish(sim, clock, fine["id"])
        failed = (await c.get(f"/videos/{blocked['id']}")).json()
        assert failed["status"] == "failed"
        assert failed["error"]["code"] == "moderation_blocked"
        assert "moderation" in failed["error"]["message"]
        assert failed["expires_at"] is None
        assert isinstance(failed["completed_at"], int)
        assert (await c.get(f"/videos/{fine['id']}")).json()["status"] == "completed"
        content = await c.get(f"/videos/{blocked['id']}/content")
        assert content.status_code == 404


async def test_moderation_rate_zero_lets_matches_through(
    make_sim: SimFactory, clock: FakeClock
) -> None:
    sim = make_sim(faults=FaultConfig(moderation_patterns=("cat",), moderation_rate=0.0))
    async with client_for(sim) as c:
        video = await create(c, prompt="a cat")
    finish(sim, clock, video["id"])
    assert sim.video(video["id"]).status is RemoteState.COMPLETED


async def test_generation_failure(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = make_sim(faults=FaultConfig(generation_failure_rate=1.0))
    async with client_for(sim) as c:
        video = await create(c)
        view = sim.video(video["id"])
        clock.t = view.started_at + (view.finished_at - view.started_at) / 2
        midway = (await c.get(f"/videos/{video['id']}")).json()
        assert midway["status"] == "in_progress"
        finish(sim, clock, video["id"])
        failed = (await c.get(f"/videos/{video['id']}")).json()
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "video_generation_failed"
    assert 0 < failed["progress"] < 100
    assert failed["progress"] >= midway["progress"]


async def test_random_429_with_retry_after(make_sim: SimFactory) -> None:
    sim = make_sim(faults=FaultConfig(rate_limit_rate=1.0, retry_after=2.5))
    async with client_for(sim) as c:
        response = await c.post("/videos", json={"prompt": "p"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["retry-after-ms"] == "2500"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert sim.log.creates == []
    assert sim.log.requests[-1].fault == "rate_limited"
    assert sim.log.requests[-1].status_code == 429


async def test_random_429_rate_is_seeded(make_sim: SimFactory) -> None:
    async def statuses(seed: int) -> list[int]:
        sim = make_sim(seed=seed, faults=FaultConfig(rate_limit_rate=0.5))
        async with client_for(sim) as c:
            return [(await c.get("/videos")).status_code for _ in range(40)]

    first, again, other = await statuses(1), await statuses(1), await statuses(2)
    assert first == again
    assert first != other
    assert 5 < first.count(429) < 35


async def test_rate_limit_bursts(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = make_sim(faults=FaultConfig(rate_limit_burst=RateLimitBurst(every=10, length=2)))
    async with client_for(sim) as c:
        assert (await c.get("/videos")).status_code == 200
        clock.tick(8.5)
        burst = await c.get("/videos")
        assert burst.status_code == 429
        assert burst.headers["retry-after-ms"] == "1500"
        clock.tick(2)
        assert (await c.get("/videos")).status_code == 200
        clock.tick(8)
        assert (await c.get("/videos")).status_code == 429
    assert [r.fault for r in sim.log.requests] == [
        None,
        "rate_limit_burst",
        None,
        "rate_limit_burst",
    ]


async def test_max_in_flight_per_key(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = make_sim(faults=FaultConfig(max_in_flight=2))
    async with client_for(sim, "sk-a") as a, client_for(sim, "sk-b") as b:
        first = await create(a)
        await create(a)
        refused = await a.post("/videos", json={"prompt": "third"})
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_concurrent_jobs"
        assert "concurrent video jobs" in refused.json()["error"]["message"]
        assert "retry-after" in refused.headers
        await create(b)  # another key has its own slots
        finish(sim, clock, first["id"])
        await create(a)
    assert len(sim.log.creates) == 4
    assert sim.max_in_flight_seen() == 3
    assert max(sim.max_in_flight_seen(k) for k in {r.api_key_id for r in sim.log.creates}) == 2
    assert sim.log.requests[2].fault == "max_in_flight"


async def test_server_error_before_create_creates_nothing(make_sim: SimFactory) -> None:
    sim = make_sim(faults=FaultConfig(error_before_create_rate=1.0))
    async with client_for(sim) as c:
        response = await c.post("/videos", json={"prompt": "p"})
        assert response.status_code == 500
        assert response.json()["error"]["type"] == "server_error"
        assert (await c.get("/videos")).json()["data"] == []
    assert sim.log.creates == []
    assert sim.log.requests[0].fault == "error_before_create"


async def test_server_error_after_create_leaves_the_job(make_sim: SimFactory) -> None:
    sim = make_sim(faults=FaultConfig(error_after_create_rate=1.0, server_error_status=502))
    async with client_for(sim) as c:
        response = await c.post("/videos", json={"prompt": "the ambiguous one"})
        assert response.status_code == 502
        listed = (await c.get("/videos")).json()["data"]
    assert [v["prompt"] for v in listed] == ["the ambiguous one"]
    assert [r.prompt for r in sim.log.creates] == ["the ambiguous one"]
    assert sim.log.creates[0].request_id == response.headers["x-request-id"]
    assert sim.log.requests[0].fault == "error_after_create"


async def test_server_errors_on_reads(make_sim: SimFactory) -> None:
    sim = make_sim(
        faults=FaultConfig(server_error_rate=1.0, server_error_status=503, retry_after=4)
    )
    async with client_for(sim) as c:
        created = await c.post("/videos", json={"prompt": "p"})
        assert created.status_code == 200
        read = await c.get(f"/videos/{created.json()['id']}")
    assert read.status_code == 503
    assert read.headers["retry-after"] == "4"
    assert sim.log.requests[-1].fault == "server_error"


async def test_slow_responses(make_sim: SimFactory) -> None:
    sim = make_sim(faults=FaultConfig(slow_rate=1.0, slow_seconds=0.2))
    async with client_for(sim) as c:
        started = time.perf_counter()
        response = await c.get("/videos")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed >= 0.2
    assert sim.log.requests[0].fault == "slow"


async def test_download_dropped_surfaces_as_an_error_in_process(
    make_sim: SimFactory, clock: FakeClock
) -> None:
    # httpx.ASGITransport runs the app to the end before answering, so the cut shows up as the
    # app's exception; over a real socket it is a truncated body (see test_sim_server.py).
    sim = make_sim(faults=FaultConfig(drop_download_first=1))
    async with client_for(sim) as c:
        video = await create(c)
        finish(sim, clock, video["id"])
        url = f"/videos/{video['id']}/content"
        with pytest.raises(SimulatedDisconnect):
            await c.get(url)
        second = await c.get(url)
    assert second.status_code == 200
    assert hashlib.sha256(second.content).hexdigest() == sim.asset_sha256(video["id"], "video")
    faults = [r.fault for r in sim.log.requests if r.path.endswith("/content")]
    assert faults == ["drop_download", None]


async def test_drop_download_rate_is_seeded(make_sim: SimFactory) -> None:
    def drops(seed: int) -> list[bool]:
        sim = make_sim(seed=seed, faults=FaultConfig(drop_download_rate=0.5))
        return [sim.faults.drop_download("video_1", Variant.VIDEO) for _ in range(30)]

    assert drops(4) == drops(4)
    assert 3 < sum(drops(4)) < 27
