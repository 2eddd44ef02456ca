"""Every /v1/videos endpoint through httpx.ASGITransport: shapes, headers, pagination, auth."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image
from simkit import API_KEY, FakeClock, SimFactory, client_for, create, finish

from reelforge.sim import Simulator, api_key_id

VIDEO_KEYS = {
    "id",
    "object",
    "model",
    "status",
    "progress",
    "created_at",
    "completed_at",
    "expires_at",
    "prompt",
    "size",
    "seconds",
    "remixed_from_video_id",
    "error",
}


async def test_create_json_returns_a_queued_video_with_every_key(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/videos", json={"prompt": "a red fox", "model": "sora-2", "seconds": "8"}
    )
    assert response.status_code == 200
    video = response.json()
    assert set(video) == VIDEO_KEYS
    assert video["id"].startswith("video_")
    assert video["object"] == "video"
    assert (video["status"], video["progress"]) == ("queued", 0)
    assert (video["seconds"], video["size"], video["model"]) == ("8", "720x1280", "sora-2")
    assert video["completed_at"] is None
    assert video["expires_at"] is None
    assert video["error"] is None
    assert video["remixed_from_video_id"] is None
    assert response.headers["x-request-id"].startswith("req_")
    assert int(response.headers["openai-processing-ms"]) >= 0
    assert int(response.headers["openai-poll-after-ms"]) > 0
    assert response.headers["x-ratelimit-limit-requests"] == "10000"
    assert response.headers["x-ratelimit-remaining-requests"] == "9999"
    assert response.headers["x-ratelimit-reset-requests"].endswith("s")


async def test_create_multipart_with_matching_reference_image(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    image = io.BytesIO()
    Image.new("RGB", (1280, 720), (10, 20, 30)).save(image, format="PNG")
    response = await client.post(
        "/videos",
        data={"prompt": "a boat", "model": "sora-2-pro", "seconds": "12", "size": "1280x720"},
        files={"input_reference": ("ref.png", image.getvalue(), "image/png")},
    )
    assert response.status_code == 200, response.text
    video = response.json()
    assert (video["model"], video["seconds"], video["size"]) == ("sora-2-pro", "12", "1280x720")
    record = sim.log.creates[-1]
    assert record.video_id == video["id"]
    assert record.seconds == "12"
    assert record.prompt == "a boat"


async def test_defaults_are_sora_2_four_seconds_portrait(client: httpx.AsyncClient) -> None:
    video = await create(client)
    assert (video["model"], video["seconds"], video["size"]) == ("sora-2", "4", "720x1280")


async def test_retrieve_and_unknown_id(client: httpx.AsyncClient) -> None:
    video = await create(client)
    fetched = (await client.get(f"/videos/{video['id']}")).json()
    assert fetched["id"] == video["id"]
    assert fetched["prompt"] == video["prompt"]
    missing = await client.get("/videos/video_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "video_nope" in missing.json()["error"]["message"]


async def test_list_paginates_newest_first_with_cursors(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, prompt=f"clip {i}"))["id"] for i in range(5)]
    first = (await client.get("/videos", params={"limit": 2})).json()
    assert first["object"] == "list"
    assert [v["id"] for v in first["data"]] == ids[::-1][:2]
    assert (first["first_id"], first["last_id"], first["has_more"]) == (ids[4], ids[3], True)
    second = (await client.get("/videos", params={"limit": 2, "after": first["last_id"]})).json()
    assert [v["id"] for v in second["data"]] == [ids[2], ids[1]]
    third = (await client.get("/videos", params={"limit": 2, "after": second["last_id"]})).json()
    assert [v["id"] for v in third["data"]] == [ids[0]]
    assert third["has_more"] is False
    ascending = (await client.get("/videos", params={"order": "asc", "limit": 100})).json()
    assert [v["id"] for v in ascending["data"]] == ids


async def test_list_limit_zero_and_empty(client: httpx.AsyncClient) -> None:
    empty = (await client.get("/videos")).json()
    assert empty == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    await create(client)
    zero = (await client.get("/videos", params={"limit": 0})).json()
    assert zero["data"] == []
    assert zero["has_more"] is True
    assert zero["first_id"] is None


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"order": "up"}, "order"),
        ({"after": "video_unknown"}, "after"),
    ],
)
async def test_list_rejects_bad_query(
    client: httpx.AsyncClient, params: dict[str, object], param: str
) -> None:
    response = await client.get("/videos", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_delete_hides_the_video_but_keeps_cursors_valid(client: httpx.AsyncClient) -> None:
    a, b, c = [(await create(client, prompt=p))["id"] for p in ("a", "b", "c")]
    deleted = await client.delete(f"/videos/{b}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": b, "object": "video.deleted", "deleted": True}
    assert (await client.get(f"/videos/{b}")).status_code == 404
    assert (await client.delete(f"/videos/{b}")).status_code == 404
    listed = (await client.get("/videos", params={"after": b})).json()
    assert [v["id"] for v in listed["data"]] == [a]
    assert c not in [v["id"] for v in listed["data"]]


async def test_remix_of_a_completed_video(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    source = await create(client, model="sora-2-pro", seconds="8", size="1792x1024")
    early = await client.post(f"/videos/{source['id']}/remix", json={"prompt": "now at night"})
    assert early.status_code == 400
    finish(sim, clock, source["id"])
    response = await client.post(f"/videos/{source['id']}/remix", json={"prompt": "now at night"})
    assert response.status_code == 200
    remix = response.json()
    assert remix["remixed_from_video_id"] == source["id"]
    assert remix["id"] != source["id"]
    assert (remix["model"], remix["seconds"], remix["size"], remix["prompt"]) == (
        "sora-2-pro",
        "8",
        "1792x1024",
        "now at night",
    )
    assert sim.log.creates[-1].remixed_from == source["id"]
    assert sim.log.creates[-1].kind == "remix"
    assert (await client.post("/videos/video_x/remix", json={"prompt": "p"})).status_code == 404


async def test_edits_and_extensions(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    source = await create(client, seconds="8")
    finish(sim, clock, source["id"])
    edit = await client.post(
        "/videos/edits", json={"prompt": "make it blue", "video": {"id": source["id"]}}
    )
    assert edit.status_code == 200, edit.text
    assert edit.json()["prompt"] == "make it blue"
    assert edit.json()["seconds"] == "8"
    assert edit.json()["remixed_from_video_id"] is None
    extension = await client.post(
        "/videos/extensions",
        data={"prompt": "and then it rains", "seconds": "4", "video[id]": source["id"]},
        files={"unused": ("x.txt", b"", "text/plain")},
    )
    assert extension.status_code == 200, extension.text
    assert extension.json()["seconds"] == "12"  # the stitched total
    assert [r.kind for r in sim.log.creates] == ["create", "edit", "extension"]
    bad = await client.post(
        "/videos/extensions", json={"prompt": "p", "seconds": "5", "video": {"id": source["id"]}}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "seconds"
    missing = await client.post("/videos/edits", json={"prompt": "p"})
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "video"


async def test_auth_is_required(sim: Simulator) -> None:
    async with client_for(sim, api_key=None) as anonymous:
        response = await anonymous.get("/videos")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert "API key" in response.json()["error"]["message"]
    async with client_for(sim, api_key="  ") as blank:
        assert (await blank.post("/videos", json={"prompt": "x"})).status_code == 401
    assert sim.log.creates == []


async def test_keys_are_isolated_projects(sim: Simulator) -> None:
    async with client_for(sim, "sk-one") as one, client_for(sim, "sk-two") as two:
        video = await create(one)
        assert (await two.get(f"/videos/{video['id']}")).status_code == 404
        assert (await two.get("/videos")).json()["data"] == []
    assert sim.log.creates[0].api_key_id == api_key_id("sk-one")
    assert "sk-one" not in repr(sim.log.creates[0])


async def test_unknown_path_answers_invalid_url(client: httpx.AsyncClient) -> None:
    response = await client.get("/videos/abc/frames")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (GET /v1/videos/abc/frames)"
    assert response.headers["x-request-id"].startswith("req_")


async def test_request_log_records_everything(client: httpx.AsyncClient, sim: Simulator) -> None:
    video = await create(client)
    await client.get(f"/videos/{video['id']}")
    await client.get("/videos", params={"limit": 3})
    records = sim.log.requests
    assert [(r.method, r.path, r.status_code) for r in records] == [
        ("POST", "/v1/videos", 200),
        ("GET", f"/v1/videos/{video['id']}", 200),
        ("GET", "/v1/videos", 200),
    ]
    assert records[2].query == "limit=3"
    assert all(r.api_key_id == api_key_id(API_KEY) and r.fault is None for r in records)
    assert sim.log.creates[0].request_id == records[0].request_id
    raw = await client.get("http://sim.test/_sim/log")
    body = raw.json()
    assert body["creates"][0]["video_id"] == video["id"]
    assert len(body["requests"]) == 3  # /_sim routes are not logged


async def test_request_log_records_the_status_each_answer_carried(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    video = await create(client)
    await client.get(f"/videos/{video['id']}")
    finish(sim, clock, video["id"])
    await client.get(f"/videos/{video['id']}")
    await client.get(f"/videos/{video['id']}/content")
    await client.get("/videos/video_nope")
    assert [r.video_status for r in sim.log.requests] == [
        "queued",
        "queued",
        "completed",
        None,  # media, not a Video object
        None,  # an error
    ]
    body = (await client.get("http://sim.test/_sim/log")).json()
    assert body["requests"][2]["video_status"] == "completed"


async def test_poll_hint_can_be_switched_off(make_sim: SimFactory) -> None:
    sim = make_sim(poll_after_hint=False)
    async with client_for(sim) as c:
        response = await c.post("/videos", json={"prompt": "x"})
        assert "openai-poll-after-ms" not in response.headers
        assert (
            "openai-poll-after-ms" not in (await c.get(f"/videos/{response.json()['id']}")).headers
        )


async def test_requests_per_minute_limit(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = make_sim(requests_per_minute=2)
    async with client_for(sim) as c:
        assert (await c.get("/videos")).headers["x-ratelimit-remaining-requests"] == "1"
        assert (await c.get("/videos")).headers["x-ratelimit-remaining-requests"] == "0"
        limited = await c.get("/videos")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert 0 < int(limited.headers["retry-after-ms"]) <= 60_000
        clock.tick(60)
        assert (await c.get("/videos")).status_code == 200
