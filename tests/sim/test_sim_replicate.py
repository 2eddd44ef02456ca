"""The simulator's Replicate predictions protocol, request by request (in-process, fake clock)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from simkit import FakeClock, SimFactory, ThreadedServer
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from reelforge.sim import EmbeddedSimulator, SimConfig, Simulator, api_key_id
from reelforge.sim.config import ReplicateConfig
from reelforge.sim.replicate_wire import PredictionStatus, parse_cancel_after, version_id

TOKEN = "r8_test_token"
ID_RE = re.compile(r"^[a-z2-7]{26}$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
VEO = "/v1/models/google/veo-3.1/predictions"
PREDICTION_KEYS = {
    "id",
    "model",
    "version",
    "input",
    "logs",
    "output",
    "data_removed",
    "error",
    "status",
    "source",
    "created_at",
    "started_at",
    "completed_at",
    "deadline",
    "urls",
    "metrics",
}
DOC = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text(encoding="utf-8")


def rclient(sim: Simulator, token: str | None = TOKEN, scheme: str = "Bearer") -> httpx.AsyncClient:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url="http://sim.test", headers=headers
    )


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with rclient(sim) as c:
        yield c


async def predict(
    client: httpx.AsyncClient, path: str = VEO, headers: dict[str, str] | None = None, **input: Any
) -> dict[str, Any]:
    input.setdefault("prompt", "A lighthouse at dusk, waves crashing")
    response = await client.post(path, json={"input": input}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def finish(sim: Simulator, clock: FakeClock, prediction_id: str) -> None:
    clock.t = max(clock.t, sim.video(prediction_id).finished_at + 0.001)


async def test_create_answers_201_with_the_whole_prediction(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await client.post(VEO, json={"input": {"prompt": "a fox", "duration": 4}})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == PREDICTION_KEYS
    assert ID_RE.match(body["id"])
    assert body["model"] == "google/veo-3.1"
    assert body["version"] == "hidden"
    assert body["status"] == "starting"
    assert body["source"] == "api"
    assert body["input"] == {"prompt": "a fox", "duration": 4}
    assert body["output"] is None
    assert body["error"] is None
    assert body["data_removed"] is False
    assert ISO_RE.match(body["created_at"])
    assert body["started_at"] is None
    assert body["completed_at"] is None
    assert body["deadline"] is None
    assert body["urls"] == {
        "get": f"http://sim.test/v1/predictions/{body['id']}",
        "cancel": f"http://sim.test/v1/predictions/{body['id']}/cancel",
        "web": f"http://sim.test/p/{body['id']}",
    }
    assert response.headers["ratelimit-remaining"].isdigit()
    assert response.headers["ratelimit-reset"].isdigit()
    assert not any(name.startswith("x-ratelimit") for name in response.headers)
    [record] = sim.log.creates
    assert (record.video_id, record.prompt, record.model, record.seconds) == (
        body["id"],
        "a fox",
        "google/veo-3.1",
        "4",
    )
    assert record.api_key_id == api_key_id(TOKEN)


async def test_a_missing_or_wrong_token_is_401_and_token_scheme_works(sim: Simulator) -> None:
    async with rclient(sim, token=None) as anonymous:
        response = await anonymous.get("/v1/predictions")
    assert response.status_code == 401
    assert response.json() == {
        "title": "Unauthenticated",
        "detail": "You did not pass a valid authentication token",
        "status": 401,
    }
    async with rclient(sim, scheme="Token") as older:
        assert (await older.get("/v1/predictions")).status_code == 200


async def test_a_prediction_starts_processes_and_succeeds_with_a_served_file(
    sim: Simulator, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    created = await predict(client, duration=4, resolution="720p")
    view = sim.video(created["id"])
    clock.t = view.started_at + 1
    running = (await client.get(f"/v1/predictions/{created['id']}")).json()
    assert running["status"] == "processing"
    assert ISO_RE.match(running["started_at"])
    assert running["completed_at"] is None
    assert running["logs"]
    finish(sim, clock, created["id"])
    done = (await client.get(f"/v1/predictions/{created['id']}")).json()
    assert done["status"] == "succeeded"
    assert done["metrics"]["predict_time"] > 0
    assert isinstance(done["output"], str)
    assert done["output"].startswith("http://sim.test/")
    assert created["id"] not in done["output"]  # the file URL is not derived from the id
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url="http://sim.test"
    ) as anonymous:
        file = await anonymous.get(done["output"])
        part = await anonymous.get(done["output"], headers={"Range": "bytes=0-99"})
        checksum = (await anonymous.get(f"/_sim/videos/{created['id']}/sha256")).json()
    assert file.status_code == 200
    assert file.headers["content-type"] == "video/mp4"
    assert hashlib.sha256(file.content).hexdigest() == checksum["sha256"]
    assert part.status_code == 206
    assert part.content == file.content[:100]
    assert sim.video(created["id"]).size == "1280x720"


async def test_every_status_word_is_one_of_the_six(
    sim: Simulator, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    seen = set()
    created = await predict(client)
    for _ in range(40):
        body = (await client.get(f"/v1/predictions/{created['id']}")).json()
        seen.add(body["status"])
        clock.tick(5)
    assert seen <= {status.value for status in PredictionStatus}
    assert {"starting", "processing", "succeeded"} <= seen


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("1m", 60), ("2h", 7200), ("1h30m45s", 5445), ("5s", 5)],
)
def test_cancel_after_reads_replicates_durations(text: str, seconds: float) -> None:
    assert parse_cancel_after(text) == seconds


async def test_a_bad_or_too_short_cancel_after_is_refused(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    for value in ("soon", "4s", "1d"):
        response = await client.post(
            VEO, json={"input": {"prompt": "x"}}, headers={"Cancel-After": value}
        )
        assert response.status_code == 400, value
        assert "Cancel-After" in response.json()["detail"]
    assert sim.log.creates == []


async def test_a_deadline_before_the_start_aborts(
    sim: Simulator, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    created = await predict(client, headers={"Cancel-After": "5s"})
    assert created["deadline"] is not None
    assert sim.video(created["id"]).started_at > clock.t + 5  # the queue is longer than 5 s
    clock.tick(5.001)
    body = (await client.get(f"/v1/predictions/{created['id']}")).json()
    assert body["status"] == "aborted"
    assert body["started_at"] is None
    assert body["completed_at"] == body["deadline"]
    assert body["output"] is None
    assert sim.max_in_flight_seen() == 1


async def test_a_deadline_while_running_cancels(
    sim: Simulator, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    created = await predict(client, headers={"Cancel-After": "20s"})
    view = sim.video(created["id"])
    assert view.started_at < clock.t + 20 < view.finished_at
    clock.tick(21)
    body = (await client.get(f"/v1/predictions/{created['id']}")).json()
    assert body["status"] == "canceled"
    assert body["started_at"] is not None
    assert body["completed_at"] == body["deadline"]


async def test_cancel_stops_a_running_prediction_and_leaves_a_finished_one(
    sim: Simulator, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    first = await predict(client)
    second = await predict(client)
    clock.t = sim.video(first["id"]).started_at + 1
    canceled = await client.post(f"/v1/predictions/{first['id']}/cancel")
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    finish(sim, clock, second["id"])
    again = await client.post(f"/v1/predictions/{second['id']}/cancel")
    assert again.json()["status"] == "succeeded"
    missing = await client.post("/v1/predictions/aaaaaaaaaaaaaaaaaaaaaaaaaa/cancel")
    assert missing.status_code == 404
    assert missing.json()["title"] == "Not found"


async def test_list_pages_newest_first_with_absolute_cursor_links(
    make_sim: SimFactory, clock: FakeClock
) -> None:
    sim = make_sim(replicate=ReplicateConfig(page_size=2))
    async with rclient(sim) as client:
        ids = []
        for index in range(5):
            ids.append((await predict(client, prompt=f"clip {index}"))["id"])
            clock.tick(1)
        seen: list[str] = []
        url: str | None = "/v1/predictions"
        pages = []
        while url is not None:
            page = (await client.get(url)).json()
            pages.append(page)
            seen += [item["id"] for item in page["results"]]
            url = page["next"]
            assert url is None or url.startswith("http://sim.test/v1/predictions?cursor=")
        assert seen == ids[::-1]
        assert [len(page["results"]) for page in pages] == [2, 2, 1]
        assert pages[0]["previous"] is None
        back = (await client.get(pages[1]["previous"])).json()
        assert [item["id"] for item in back["results"]] == ids[::-1][:2]

        since = sim.video(ids[2]).created_at
        stamp = (await client.get(f"/v1/predictions/{ids[2]}")).json()["created_at"]
        recent = (await client.get("/v1/predictions", params={"created_after": stamp})).json()
        assert [item["id"] for item in recent["results"]] == ids[:2:-1]
        assert all(sim.video(i).created_at > since for i in ids[3:])
        bad = await client.get("/v1/predictions", params={"created_after": "yesterday"})
        assert bad.status_code == 400
        assert (await client.get("/v1/predictions?cursor=%%%")).status_code == 400


async def test_each_key_lists_and_reads_only_its_own(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    mine = await predict(client)
    async with rclient(sim, token="r8_other") as other:
        assert (await other.get(f"/v1/predictions/{mine['id']}")).status_code == 404
        assert (await other.get("/v1/predictions")).json()["results"] == []


async def test_data_is_removed_after_the_retention(make_sim: SimFactory, clock: FakeClock) -> None:
    sim = make_sim(replicate=ReplicateConfig(data_retention=100))
    async with rclient(sim) as client:
        created = await predict(client, duration=4)
        finish(sim, clock, created["id"])
        done = (await client.get(f"/v1/predictions/{created['id']}")).json()
        assert (await client.get(done["output"])).status_code == 200
        clock.tick(100)
        gone = (await client.get(f"/v1/predictions/{created['id']}")).json()
        assert gone["status"] == "succeeded"
        assert gone["data_removed"] is True
        assert gone["output"] is None
        assert gone["input"] == {}
        assert gone["logs"] == ""
        assert (await client.get(done["output"])).status_code == 404


async def test_429_has_replicates_body_and_ratelimit_headers(make_sim: SimFactory) -> None:
    sim = make_sim(requests_per_minute=2)
    async with rclient(sim) as client:
        assert (await client.get("/v1/predictions")).status_code == 200
        await predict(client)
        refused = await client.post(VEO, json={"input": {"prompt": "x"}})
    assert refused.status_code == 429
    match = re.fullmatch(
        r"Request was throttled\. Your rate limit resets in ~(\d+)s\.", refused.json()["detail"]
    )
    assert match is not None
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-reset"] == match.group(1)
    assert len(sim.log.creates) == 1


async def test_input_is_validated_per_model(sim: Simulator, client: httpx.AsyncClient) -> None:
    response = await client.post(VEO, json={"input": {"prompt": "x", "duration": 7}})
    assert response.status_code == 422
    body = response.json()
    assert body["title"] == "Input validation failed"
    assert body["status"] == 422
    [field] = body["invalid_fields"]
    assert field["field"] == "input.duration"
    assert "4, 6, 8" in field["description"]
    assert "input.duration" in body["detail"]
    text = await client.post(VEO, json={"input": {"prompt": "x", "duration": "8"}})
    assert text.status_code == 422
    missing = await client.post(VEO, json={"input": {"duration": 8}})
    assert missing.json()["invalid_fields"][0]["field"] == "input.prompt"
    no_input = await client.post(VEO, json={"prompt": "x"})
    assert no_input.status_code == 422
    hook = await client.post(VEO, json={"input": {"prompt": "x"}, "webhook": "ftp://x"})
    assert hook.status_code == 422
    events = await client.post(
        VEO, json={"input": {"prompt": "x"}, "webhook_events_filter": ["done"]}
    )
    assert events.status_code == 422
    not_json = await client.post(VEO, content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 400
    assert sim.log.creates == []


async def test_unknown_models_are_404_unless_configured(make_sim: SimFactory) -> None:
    sim = make_sim(extra_models={"acme/clip-1": {"seconds": [3], "sizes": ["640x360"]}})
    async with rclient(sim) as client:
        unknown = await client.post(
            "/v1/models/acme/nope/predictions", json={"input": {"prompt": "x"}}
        )
        assert unknown.status_code == 404
        assert "acme/nope" in unknown.json()["detail"]
        extra = await predict(client, "/v1/models/acme/clip-1/predictions")
    assert sim.video(extra["id"]).size == "640x360"


async def test_create_by_version_accepts_replicates_three_forms(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    hexa = version_id("alibaba/wan-3")
    for version, shown in (
        ("google/veo-3.1-fast", "hidden"),
        (hexa, hexa),
        (f"alibaba/wan-3:{hexa}", hexa),
    ):
        response = await client.post(
            "/v1/predictions", json={"version": version, "input": {"prompt": "a kite"}}
        )
        assert response.status_code == 201, response.text
        assert response.json()["version"] == shown
    assert [record.model for record in sim.log.creates] == [
        "google/veo-3.1-fast",
        "alibaba/wan-3",
        "alibaba/wan-3",
    ]
    for bad in ("0" * 64, f"alibaba/wan-3:{'0' * 64}", "not a model"):
        refused = await client.post("/v1/predictions", json={"version": bad, "input": {}})
        assert refused.status_code == 422, bad
        assert refused.json()["title"] == "Invalid version"


async def test_failures_carry_replicates_error_words(
    make_sim: SimFactory, clock: FakeClock
) -> None:
    sim = make_sim(faults={"moderation_patterns": ["forbidden"]})
    async with rclient(sim) as client:
        flagged = await predict(client, prompt="something forbidden")
        finish(sim, clock, flagged["id"])
        body = (await client.get(f"/v1/predictions/{flagged['id']}")).json()
    assert body["status"] == "failed"
    assert body["output"] is None
    assert "flagged as sensitive" in body["error"]
    assert "(E005)" in body["error"]
    broken = make_sim(faults={"generation_failure_rate": 1.0})
    async with rclient(broken) as client:
        created = await predict(client)
        finish(broken, clock, created["id"])
        failed = (await client.get(f"/v1/predictions/{created['id']}")).json()
    assert failed["status"] == "failed"
    assert "sensitive" not in failed["error"]


async def test_a_5xx_after_create_still_made_exactly_one_prediction(make_sim: SimFactory) -> None:
    sim = make_sim(faults={"error_after_create_rate": 1.0})
    async with rclient(sim) as client:
        response = await client.post(
            VEO, json={"input": {"prompt": "x"}}, headers={"Cancel-After": "5s"}
        )
    assert response.status_code == 500
    assert response.json()["title"] == "Internal Server Error"
    [record] = sim.log.creates
    [job] = sim.store.jobs
    assert job.id == record.video_id
    assert job.canceled_at == job.data["deadline"]  # the deadline holds all the same


async def test_prefer_wait_holds_the_answer_and_says_so(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await client.post(VEO, json={"input": {"prompt": "x"}}, headers={"Prefer": "wait=1"})
    assert response.status_code == 201
    assert response.headers["preference-applied"] == "wait=1"
    assert response.json()["status"] == "starting"  # the fake clock did not move
    plain = await client.post(VEO, json={"input": {"prompt": "y"}})
    assert "preference-applied" not in plain.headers
    assert [job.data["headers"] for job in sim.store.jobs] == [{"prefer": "wait=1"}, {}]


async def test_the_webhook_secret_is_stable_per_key(sim: Simulator) -> None:
    async with rclient(sim) as one, rclient(sim, token="r8_other") as two:
        first = (await one.get("/v1/webhooks/default/secret")).json()
        again = (await one.get("/v1/webhooks/default/secret")).json()
        other = (await two.get("/v1/webhooks/default/secret")).json()
    assert first == again != other
    assert first["key"].startswith("whsec_")


def test_webhooks_are_signed_retried_with_one_id_and_logged() -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=500 if len(received) == 1 else 204)

    receiver = Starlette(routes=[Route("/hooks", hook, methods=["POST"])])
    config = SimConfig(
        time_scale=2000, media_scale=0.125, fps=2, replicate=ReplicateConfig(webhook_interval=0.02)
    )
    with ThreadedServer(receiver) as sink, EmbeddedSimulator(config) as emb:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=emb.url, headers=headers) as client:
            secret = client.get("/v1/webhooks/default/secret").json()["key"]
            created = client.post(
                VEO,
                json={
                    "input": {"prompt": "a hooked fish", "duration": 4},
                    "webhook": f"{sink.url}/hooks",
                    "webhook_events_filter": ["start", "completed"],
                },
            ).json()
            emb.sim.advance(10_000)
            for _ in range(200):
                if len(received) >= 3:
                    break
                time.sleep(0.05)
    assert len(received) == 3, emb.sim.log.webhooks
    ids = [headers["webhook-id"] for headers, _ in received]
    verified = [Webhook(secret).verify(body, headers) for headers, body in received]
    assert all(payload["id"] == created["id"] for payload in verified)
    by_id = {i: payload["status"] for i, payload in zip(ids, verified, strict=True)}
    # Two events (start while processing, completed at success); the first delivery failed
    # and was retried under the same webhook-id.
    assert sorted(by_id.values()) == ["processing", "succeeded"]
    assert ids.count(ids[0]) == 2
    log = emb.sim.log.webhooks
    assert sorted(record.event_type for record in log) == ["completed", "start", "start"] or (
        sorted(record.event_type for record in log) == ["completed", "completed", "start"]
    )
    assert [record.status_code for record in log if record.event_id == ids[0]] == [500, 204]


def test_every_replicate_config_key_is_documented() -> None:
    assert "## Replicate predictions protocol" in DOC
    for name in ReplicateConfig.model_fields:
        assert f"`replicate.{name}`" in DOC, name


def test_predictions_are_not_videos_on_the_openai_routes() -> None:
    """Each protocol sees its own jobs: a prediction is not a ``/v1/videos`` object."""
    sim = Simulator(SimConfig(time_scale=1000, media_scale=0.125, fps=2))
    try:
        with TestClient(sim.app) as client:
            headers = {"Authorization": "Bearer r8-isolation"}
            created = client.post(
                "/v1/models/google/veo-3.1-fast/predictions",
                json={"input": {"prompt": "a boat", "duration": 4}},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            prediction = created.json()["id"]
            assert client.get(f"/v1/videos/{prediction}", headers=headers).status_code == 404
            assert client.get("/v1/videos", headers=headers).json()["data"] == []
    finally:
        sim.close()
