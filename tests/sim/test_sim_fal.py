"""The simulator's fal queue protocol: paths, status codes, fates, validation, cancel, faults."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from simkit import FakeClock, SimFactory, finish

from reelforge.sim import Simulator
from reelforge.sim.fal_wire import INFRA_ERRORS

FAL_KEY = "key-id:key-secret"
BASE = "http://queue.test"
FAST = "fal-ai/veo3.1/fast"
SMALL = {"media_scale": 0.125, "fps": 2}


def fal_client(sim: Simulator, key: str | None = FAL_KEY) -> httpx.AsyncClient:
    headers = {"Authorization": f"Key {key}"} if key is not None else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url=BASE, headers=headers
    )


@pytest.fixture
def sim(make_sim: SimFactory) -> Simulator:
    return make_sim(**SMALL)


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with fal_client(sim) as c:
        yield c


async def submit(client: httpx.AsyncClient, endpoint: str = FAST, **fields: Any) -> dict[str, Any]:
    fields.setdefault("prompt", "A lighthouse at dusk, waves crashing")
    response = await client.post(f"/{endpoint}", json=fields)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["x-fal-request-id"] == body["request_id"]
    return body


async def test_submit_answers_in_queue_with_urls_truncated_to_owner_and_app(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    body = await submit(client, "fal-ai/veo3.1/fast/image-to-video", image_url="https://x/i.png")
    request_id = body["request_id"]
    assert uuid.UUID(request_id).version == 4
    assert body["status"] == "IN_QUEUE"
    assert body["gateway_request_id"] == request_id
    assert body["queue_position"] == 0
    root = f"{BASE}/fal-ai/veo3.1/requests/{request_id}"
    assert body["response_url"] == root
    assert body["status_url"] == f"{root}/status"
    assert body["cancel_url"] == f"{root}/cancel"
    [record] = sim.log.creates
    assert record.video_id == request_id
    assert record.model == "fal-ai/veo3.1/fast/image-to-video"


async def test_new_namespace_and_workflow_apps(make_sim: SimFactory) -> None:
    sim = make_sim(extra_models={"workflows/acme/flow/run": {}}, **SMALL)
    async with fal_client(sim) as client:
        seedance = await submit(client, "bytedance/seedance-2.0/text-to-video")
        workflow = await submit(client, "workflows/acme/flow/run")
    assert seedance["status_url"].startswith(f"{BASE}/bytedance/seedance-2.0/requests/")
    assert workflow["status_url"].startswith(f"{BASE}/workflows/acme/flow/requests/")
    assert seedance["queue_position"] == 0  # another app's queue


async def test_queue_position_counts_requests_ahead_in_the_same_app(
    client: httpx.AsyncClient,
) -> None:
    await submit(client)
    second = await submit(client, "fal-ai/veo3.1")
    response = await client.get(second["status_url"])
    assert response.status_code == 202
    assert response.json()["queue_position"] == 1


async def test_status_lifecycle_202_then_200_and_the_long_path_is_404(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    body = await submit(client)
    request_id = body["request_id"]
    long_path = f"/fal-ai/veo3.1/fast/requests/{request_id}/status"
    assert (await client.get(long_path)).status_code == 404
    assert (await client.get(f"/fal-ai/veo3.1/fast/requests/{request_id}")).status_code == 404

    queued = await client.get(body["status_url"])
    assert queued.status_code == 202
    assert queued.json()["status"] == "IN_QUEUE"

    view = sim.video(request_id)
    clock.t = (view.started_at + view.finished_at) / 2
    quiet = await client.get(body["status_url"], params={"logs": "0"})
    assert quiet.status_code == 202
    assert quiet.json()["status"] == "IN_PROGRESS"
    assert quiet.json()["logs"] is None
    loud = await client.get(body["status_url"], params={"logs": "1"})
    logs = loud.json()["logs"]
    assert isinstance(logs, list)
    assert logs
    assert {"message", "level", "source", "timestamp"} <= set(logs[0])

    finish(sim, clock, request_id)
    done = await client.get(body["status_url"])
    assert done.status_code == 200
    assert done.json()["status"] == "COMPLETED"
    assert done.json()["metrics"]["inference_time"] > 0
    assert "error" not in done.json()
    statuses = [r.status_code for r in sim.log.requests if r.path == long_path]
    assert statuses == [404]


async def test_result_serves_the_output_and_the_cdn_serves_the_checksummed_bytes(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    body = await submit(client, duration="4s", resolution="1080p", aspect_ratio="9:16")
    early = await client.get(body["response_url"])
    assert early.status_code == 400
    assert early.json() == {"detail": "Request is still in progress"}

    finish(sim, clock, body["request_id"])
    result = await client.get(body["response_url"])
    assert result.status_code == 200
    video = result.json()["video"]
    assert video["content_type"] == "video/mp4"
    assert video["file_name"] == "output.mp4"
    assert sim.video(body["request_id"]).size == "1080x1920"
    assert sim.video(body["request_id"]).seconds == "4"

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as anonymous:
        whole = await anonymous.get(video["url"])
        part = await anonymous.get(video["url"], headers={"Range": "bytes=10-19"})
        checksum = await anonymous.get(f"{BASE}/_sim/videos/{body['request_id']}/sha256")
    assert whole.status_code == 200
    assert len(whole.content) == video["file_size"]
    assert part.status_code == 206
    assert part.content == whole.content[10:20]
    assert checksum.json()["sha256"] == hashlib.sha256(whole.content).hexdigest()


async def test_wan_and_seedance_outputs_carry_their_extra_fields(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    wan = await submit(client, "fal-ai/wan/v2.7/text-to-video", duration=3)
    seedance = await submit(client, "bytedance/seedance-2.0/text-to-video", seed=42)
    for body in (wan, seedance):
        finish(sim, clock, body["request_id"])
    wan_out = (await client.get(wan["response_url"])).json()
    seed_out = (await client.get(seedance["response_url"])).json()
    assert {"width", "height", "fps", "duration", "num_frames"} <= set(wan_out["video"])
    assert wan_out["video"]["duration"] == 3
    assert isinstance(wan_out["seed"], int)
    assert seed_out["seed"] == 42


async def test_moderated_prompt_completes_with_a_content_policy_error(
    make_sim: SimFactory, clock: FakeClock
) -> None:
    sim = make_sim(faults={"moderation_patterns": ["forbidden"]}, **SMALL)
    async with fal_client(sim) as client:
        body = await submit(client, prompt="a forbidden scene")
        finish(sim, clock, body["request_id"])
        status = await client.get(body["status_url"])
        result = await client.get(body["response_url"])
    assert status.status_code == 200
    assert status.json()["status"] == "COMPLETED"
    assert status.json()["error_type"] == "content_policy_violation"
    assert status.json()["error"]
    assert result.status_code == 422
    [problem] = result.json()["detail"]
    assert problem["type"] == "content_policy_violation"
    assert problem["loc"] == ["body", "prompt"]
    assert problem["url"] == "https://docs.fal.ai/errors#content_policy_violation"


async def test_generation_failure_completes_with_a_request_error_type(
    make_sim: SimFactory, clock: FakeClock
) -> None:
    sim = make_sim(faults={"generation_failure_rate": 1.0}, **SMALL)
    async with fal_client(sim) as client:
        body = await submit(client)
        finish(sim, clock, body["request_id"])
        status = (await client.get(body["status_url"])).json()
        result = await client.get(body["response_url"])
    assert status["status"] == "COMPLETED"
    assert status["error_type"] in INFRA_ERRORS
    code, message = INFRA_ERRORS[status["error_type"]]
    assert status["error"] == message
    assert result.status_code == code
    assert result.json() == {"detail": message, "error_type": status["error_type"]}
    assert result.headers["x-fal-error-type"] == status["error_type"]
    assert result.headers["x-fal-request-id"] == body["request_id"]


async def test_validation_answers_422_like_the_real_endpoint(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    missing = await client.post(f"/{FAST}", json={"duration": "4s"})
    assert missing.status_code == 422
    assert missing.json()["detail"] == [
        {"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}
    ]
    bad = await client.post(f"/{FAST}", json={"prompt": "x", "duration": "5s"})
    [problem] = bad.json()["detail"]
    assert problem["loc"] == ["body", "duration"]
    assert problem["type"] == "literal_error"
    assert problem["ctx"]["expected"] == "'4s', '6s' or '8s'"
    image = await client.post("/fal-ai/veo3.1/image-to-video", json={"prompt": "x"})
    assert image.json()["detail"][0]["loc"] == ["body", "image_url"]
    not_json = await client.post(f"/{FAST}", content=b"{nope", headers={"content-type": "x"})
    assert not_json.status_code == 422
    assert not_json.json()["detail"][0]["type"] == "json_invalid"
    hook = await client.post(f"/{FAST}?fal_webhook=not-a-url", json={"prompt": "x"})
    assert hook.json()["detail"][0]["loc"] == ["query", "fal_webhook"]
    unknown = await client.post("/fal-ai/sora-2/text-to-video", json={"prompt": "x"})
    assert unknown.status_code == 404
    assert "detail" in unknown.json()
    assert sim.log.creates == []


async def test_auth_is_key_scheme_with_fal_detail(sim: Simulator) -> None:
    async with fal_client(sim, key=None) as anonymous:
        missing = await anonymous.post(f"/{FAST}", json={"prompt": "x"})
        bearer = await anonymous.post(
            f"/{FAST}", json={"prompt": "x"}, headers={"Authorization": "Bearer sk"}
        )
    for response in (missing, bearer):
        assert response.status_code == 401
        assert isinstance(response.json()["detail"], str)
        assert "x-fal-request-id" in response.headers
    assert sim.log.creates == []


async def test_cancel_answers(client: httpx.AsyncClient, sim: Simulator, clock: FakeClock) -> None:
    queued = await submit(client)
    removed = await client.put(queued["cancel_url"])
    assert (removed.status_code, removed.json()) == (200, {"status": "OK"})
    status = (await client.get(queued["status_url"])).json()
    assert status["status"] == "COMPLETED"
    assert status["error_type"] == "request_cancelled"
    assert (await client.get(queued["response_url"])).status_code == 400
    again = await client.put(queued["cancel_url"])
    assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})

    running = await submit(client, duration="8s")
    view = sim.video(running["request_id"])
    clock.t = view.started_at + 0.1
    asked = await client.put(running["cancel_url"])
    assert (asked.status_code, asked.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    clock.tick(5)
    assert (await client.get(running["status_url"])).json()["error_type"] == "request_cancelled"

    done = await submit(client)
    finish(sim, clock, done["request_id"])
    late = await client.put(done["cancel_url"])
    assert (late.status_code, late.json()) == (400, {"status": "ALREADY_COMPLETED"})
    assert (await client.get(done["response_url"])).status_code == 200

    missing = await client.put(f"/fal-ai/veo3.1/requests/{uuid.uuid4()}/cancel")
    assert (missing.status_code, missing.json()) == (404, {"status": "NOT_FOUND"})


async def test_another_key_cannot_see_a_request(client: httpx.AsyncClient, sim: Simulator) -> None:
    body = await submit(client)
    async with fal_client(sim, key="other:key") as stranger:
        assert (await stranger.get(body["status_url"])).status_code == 404


async def test_502_after_create_is_an_nginx_page_and_the_job_exists(
    make_sim: SimFactory,
) -> None:
    sim = make_sim(faults={"error_after_create_rate": 1.0, "server_error_status": 502}, **SMALL)
    async with fal_client(sim) as client:
        response = await client.post(f"/{FAST}", json={"prompt": "x"})
    assert response.status_code == 502
    assert "nginx" in response.text
    assert "x-fal-request-id" not in response.headers
    [record] = sim.log.creates
    assert sim.video(record.video_id).status.value == "queued"


async def test_500_after_create_is_fal_json(make_sim: SimFactory) -> None:
    sim = make_sim(faults={"error_after_create_rate": 1.0}, **SMALL)
    async with fal_client(sim) as client:
        response = await client.post(f"/{FAST}", json={"prompt": "x"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert "x-fal-request-id" in response.headers
    assert len(sim.log.creates) == 1


async def test_injected_rate_limit_is_a_small_json_body(make_sim: SimFactory) -> None:
    sim = make_sim(faults={"rate_limit_rate": 1.0}, **SMALL)
    async with fal_client(sim) as client:
        response = await client.post(f"/{FAST}", json={"prompt": "x"})
    assert response.status_code == 429
    assert response.json() == {"detail": "Too many requests"}
    assert "retry-after" not in response.headers
    assert sim.log.creates == []


async def test_lifecycle_header_sets_when_the_file_expires(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    lifecycle = '{"expiration_duration_seconds": 60}'
    response = await client.post(
        f"/{FAST}",
        json={"prompt": "x"},
        headers={"X-Fal-Object-Lifecycle-Preference": lifecycle},
    )
    body = response.json()
    finish(sim, clock, body["request_id"])
    url = (await client.get(body["response_url"])).json()["video"]["url"]
    assert (await client.get(url, headers={"Range": "bytes=0-0"})).status_code == 206
    clock.tick(61)
    assert (await client.get(url)).status_code == 404
    assert (await client.get(body["response_url"])).status_code == 200
