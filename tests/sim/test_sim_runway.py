"""The simulator's Runway tasks protocol: version header, THROTTLED, expiring output URLs,
DELETE and validation, in-process on the fake clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from simkit import FakeClock

from reelforge.sim import SimConfig, Simulator
from reelforge.sim.config import RunwayConfig

VERSION = {"X-Runway-Version": "2024-11-06"}
BODY = {"model": "gen4.5", "promptText": "a kite over dunes", "ratio": "1280:720", "duration": 5}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sim(clock: FakeClock) -> Iterator[Any]:
    made: list[Simulator] = []

    def factory(**config: Any) -> Simulator:
        sim = Simulator(SimConfig(time_scale=1, media_scale=0.125, fps=2, **config), clock=clock)
        made.append(sim)
        return sim

    yield factory
    for sim in made:
        sim.close()


@pytest.fixture
async def sim(make_sim: Any) -> Simulator:
    made: Simulator = make_sim()
    return made


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": "Bearer key_test", **VERSION},
    ) as made:
        yield made


async def create(client: httpx.AsyncClient, **fields: Any) -> str:
    response = await client.post("/v1/text_to_video", json={**BODY, **fields})
    assert response.status_code == 200, response.text
    task_id: str = response.json()["id"]
    return task_id


async def task(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/tasks/{task_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def done(sim: Simulator, clock: FakeClock, task_id: str) -> None:
    clock.t = max(clock.t, sim.video(task_id).finished_at + 0.001)


async def test_the_version_header_is_required(client: httpx.AsyncClient) -> None:
    missing = await client.post("/v1/text_to_video", json=BODY, headers={"X-Runway-Version": ""})
    del client.headers["X-Runway-Version"]
    absent = await client.get("/v1/tasks/00000000-0000-4000-8000-000000000000")
    other = await client.post("/v1/text_to_video", json=BODY, headers={"X-Runway-Version": "2023"})
    assert [r.status_code for r in (missing, absent, other)] == [400, 400, 400]
    assert "X-Runway-Version" in absent.json()["error"]
    assert "'2023' is not supported" in other.json()["error"]
    unauthenticated = await client.get("/v1/tasks/x", headers={"Authorization": "", **VERSION})
    assert unauthenticated.status_code == 401
    assert set(unauthenticated.json()) == {"error"}


async def test_a_task_goes_pending_running_succeeded(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    task_id = await create(client)
    assert uuid.UUID(task_id).version == 4
    pending = await task(client, task_id)
    assert pending["status"] == "PENDING"
    assert pending["createdAt"].endswith("Z")
    clock.t = sim.video(task_id).started_at + 1
    running = await task(client, task_id)
    assert running["status"] == "RUNNING"
    assert 0 < running["progress"] < 1
    done(sim, clock, task_id)
    succeeded = await task(client, task_id)
    assert succeeded["status"] == "SUCCEEDED"
    [url] = succeeded["output"]
    assert "?_jwt=" in url
    assert [c.video_id for c in sim.log.creates] == [task_id]


async def test_over_the_concurrency_a_task_is_throttled_then_runs(
    make_sim: Any, clock: FakeClock
) -> None:
    sim = make_sim(runway=RunwayConfig(concurrency=2))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": "Bearer key_test", **VERSION},
    ) as client:
        ids = [await create(client, promptText=f"clip {n}") for n in range(3)]
        jobs = [sim.store.any(task_id) for task_id in ids]
        assert all(job is not None for job in jobs)
        first, second, third = (job for job in jobs if job is not None)
        assert third.started_at >= min(first.finished_at, second.finished_at)
        clock.t = max(first.started_at, second.started_at, third.data["pending_until"]) + 0.01
        states = [(await task(client, task_id))["status"] for task_id in ids]
        assert states == ["RUNNING", "RUNNING", "THROTTLED"]
        clock.t = third.started_at + 0.01
        assert (await task(client, ids[2]))["status"] == "RUNNING"
        assert sim.store.in_flight(first.api_key_id, clock.t) <= 2
        # Another key has its own slots.
        other = await client.post(
            "/v1/text_to_video", json=BODY, headers={"Authorization": "Bearer key_other"}
        )
        other_job = sim.store.any(other.json()["id"])
        assert other_job is not None
        assert other_job.started_at == other_job.data["pending_until"]


async def test_each_read_mints_a_fresh_url_and_the_old_one_expires(
    make_sim: Any, clock: FakeClock
) -> None:
    sim = make_sim(runway=RunwayConfig(output_url_ttl=30))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": "Bearer key_test", **VERSION},
    ) as client:
        task_id = await create(client)
        done(sim, clock, task_id)
        [old] = (await task(client, task_id))["output"]
        clock.t += 10
        [new] = (await task(client, task_id))["output"]
        assert old != new
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as cdn:
            first = await cdn.get(old)  # no credentials: the token admits it
            assert first.status_code == 200
            assert first.content[4:8] == b"ftyp"
            part = await cdn.get(old, headers={"Range": "bytes=10-"})
            assert part.status_code == 206
            assert part.content == first.content[10:]
            clock.t += 25
            assert (await cdn.get(old)).status_code == 403
            assert (await cdn.get(new)).status_code == 200
            forged = new[: new.index("_jwt=") + 5] + "x" + new[new.index("_jwt=") + 6 :]
            assert (await cdn.get(forged)).status_code == 401
            assert (await cdn.get(new.split("?")[0])).status_code == 401
            other_id = await create(client, promptText="another")
            done(sim, clock, other_id)
            swapped = new.replace(task_id, other_id)  # a token for another task
            assert (await cdn.get(swapped)).status_code == 401
            sha = await cdn.get(f"http://sim.test/_sim/videos/{task_id}/sha256")
            assert sha.json()["size"] == len(first.content)


async def test_delete_cancels_unfinished_tasks_and_deletes_finished_ones(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pending = await create(client, promptText="pending")
    finished = await create(client, promptText="finished")
    assert (await client.delete(f"/v1/tasks/{pending}")).status_code == 204
    assert (await task(client, pending))["status"] == "CANCELLED"
    assert (await client.delete(f"/v1/tasks/{pending}")).status_code == 204
    assert (await client.get(f"/v1/tasks/{pending}")).status_code == 404
    done(sim, clock, finished)
    [url] = (await task(client, finished))["output"]
    assert (await client.delete(f"/v1/tasks/{finished}")).status_code == 204
    gone = await client.get(f"/v1/tasks/{finished}")
    assert gone.status_code == 404
    assert gone.json() == {"error": "Task not found."}
    assert (await client.get(url, headers={"Authorization": ""})).status_code == 404
    assert (await client.delete(f"/v1/tasks/{finished}")).status_code == 404


async def test_failures_carry_a_code_and_a_message(make_sim: Any, clock: FakeClock) -> None:
    sim = make_sim(faults={"moderation_patterns": ["forbidden"]})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": "Bearer key_test", **VERSION},
    ) as client:
        task_id = await create(client, promptText="a forbidden thing")
        done(sim, clock, task_id)
        failed = await task(client, task_id)
        assert failed["status"] == "FAILED"
        assert failed["failureCode"] == "SAFETY.INPUT.TEXT"
        assert failed["failure"]
        assert "output" not in failed


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/text_to_video", {**BODY, "ratio": "1:1"}, "ratio"),
        ("/v1/text_to_video", {**BODY, "duration": 11}, "duration"),
        ("/v1/text_to_video", {**BODY, "promptText": ""}, "promptText"),
        ("/v1/text_to_video", {**BODY, "model": "gen9"}, "model"),
        ("/v1/text_to_video", {**BODY, "promptImage": "https://x.test/a.png"}, "promptImage"),
        ("/v1/image_to_video", BODY, "promptImage"),
        ("/v1/image_to_video", {**BODY, "promptImage": "file:///etc/passwd"}, "promptImage"),
    ],
)
async def test_a_bad_body_is_refused_naming_the_field(
    sim: Simulator, client: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == "Validation of body failed"
    assert field in [issue["path"][0] for issue in error["issues"]]
    assert sim.log.creates == []


async def test_a_body_that_is_not_json_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/text_to_video", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


async def test_an_injected_5xx_after_create_still_makes_a_scheduled_task(
    make_sim: Any,
) -> None:
    sim = make_sim(faults={"error_after_create_rate": 1.0})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": "Bearer key_test", **VERSION},
    ) as client:
        response = await client.post("/v1/text_to_video", json=BODY)
        assert response.status_code >= 500
        assert set(response.json()) == {"error"}
        [record] = sim.log.creates
        job = sim.store.any(record.video_id)
        assert job is not None
        assert "pending_until" in job.data
