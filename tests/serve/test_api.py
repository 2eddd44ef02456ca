"""The JSON API against a real batch run on the embedded simulator: batches with counts, cost
against the budget and providers, a batch's jobs with filters, a job with its files (sizes,
sha256) and history, events since a cursor; 404 naming unknown ids, 400 naming bad
parameters, hostile ids answered safely."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from reelforge import Batch, Forge, JobSpec, JobState
from reelforge._serve import ThreadedServer
from reelforge.serve import ServeState, build_app
from reelforge.serve.metrics import watch_provider_requests
from reelforge.store import Store

BATCH = "spring-api"


@dataclass(frozen=True)
class Recorded:
    """A finished batch's database and output folder."""

    db: Path
    out: Path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """Three clips run to the end on the embedded simulator (no credentials), budget $5."""
    root = tmp_path_factory.mktemp("api")
    db, out = root / "db.sqlite", root / "out"
    watch_provider_requests()  # the metrics tests count this run's requests
    batch = Batch.from_specs(
        BATCH, {"kite": JobSpec(prompt="A red kite"), "boat": "A paper boat", "fox": "A fox"}
    )

    async def run() -> None:
        async with Forge(db=db, out=out) as forge:
            result = await forge.run(batch, budget=Decimal(5))
        assert result.count(JobState.DONE) == 3

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("OPENAI_API_KEY", raising=False)
        asyncio.run(run())
    return Recorded(db=db, out=out)


@pytest.fixture
async def api(recorded: Recorded) -> AsyncIterator[httpx.AsyncClient]:
    store = Store.for_path(recorded.db)
    app = build_app(ServeState(store=store, db_url=store.url))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://127.0.0.1"
    ) as client:
        yield client
    store.close()


@pytest.mark.slow
async def test_batches_show_counts_cost_against_budget_and_providers(
    api: httpx.AsyncClient,
) -> None:
    batches = (await api.get("/api/batches")).json()["batches"]
    assert [b["id"] for b in batches] == [BATCH]
    batch = batches[0]
    assert batch["counts"]["done"] == 3
    assert set(batch["counts"]) == {state.value for state in JobState}
    assert batch["total"] == 3
    assert batch["unfinished"] == 0
    assert batch["providers"] == {"openai": 3}
    assert Decimal(batch["cost"]["budget"]) == 5
    assert Decimal(batch["cost"]["actual"]) == Decimal("1.2")  # 3 x 4 s x $0.10
    assert batch["eta_seconds"] == 0
    assert batch["running"] is False
    assert (await api.get(f"/api/batches/{BATCH}")).json() == batch


@pytest.mark.slow
async def test_a_batchs_jobs_filter_by_state_and_provider(api: httpx.AsyncClient) -> None:
    jobs = (await api.get(f"/api/batches/{BATCH}/jobs")).json()["jobs"]
    assert [job["key"] for job in jobs] == ["kite", "boat", "fox"]
    assert all(job["state"] == "done" and job["remote_id"] for job in jobs)
    done = await api.get(f"/api/batches/{BATCH}/jobs", params={"state": "done,failed"})
    assert len(done.json()["jobs"]) == 3
    failed = await api.get(f"/api/batches/{BATCH}/jobs", params={"state": "failed"})
    assert failed.json()["jobs"] == []
    fal = await api.get(f"/api/batches/{BATCH}/jobs", params={"provider": "fal"})
    assert fal.json()["jobs"] == []
    bad = await api.get(f"/api/batches/{BATCH}/jobs", params={"state": "finished"})
    assert bad.status_code == 400
    assert "state" in bad.json()["error"]
    assert "needs_review" in bad.json()["error"]  # the allowed values are named
    bad = await api.get(f"/api/batches/{BATCH}/jobs", params={"provider": "acme"})
    assert bad.status_code == 400
    assert "provider" in bad.json()["error"]
    assert "openai" in bad.json()["error"]


@pytest.mark.slow
async def test_a_job_shows_its_spec_files_with_checksums_and_history(
    api: httpx.AsyncClient, recorded: Recorded
) -> None:
    first = (await api.get(f"/api/batches/{BATCH}/jobs")).json()["jobs"][0]
    job = (await api.get(f"/api/jobs/{first['id']}")).json()
    assert job["prompt"] == "A red kite"
    assert job["spec"]["model"] == "sora-2"
    assert job["state"] == "done"
    assert job["remote_id"] == first["remote_id"]
    assert job["error"] is None
    assert isinstance(job["request_ids"], list)
    variants = {f["variant"]: f for f in job["files"]}
    assert {"video", "thumbnail", "spritesheet"} <= set(variants)
    video = variants["video"]
    data = await asyncio.to_thread(Path(video["path"]).read_bytes)
    assert Path(video["path"]).is_relative_to(recorded.out)
    assert video["bytes"] == len(data)
    assert video["sha256"] == hashlib.sha256(data).hexdigest()
    states = [e["state"] for e in job["history"] if e["kind"] == "state"]
    assert states[0] == "pending"
    assert states[-1] == "done"
    ids = [e["id"] for e in job["history"]]
    assert ids == sorted(ids)


@pytest.mark.slow
async def test_events_page_through_the_outbox_with_a_cursor(api: httpx.AsyncClient) -> None:
    first = (await api.get("/api/events", params={"limit": 5})).json()
    assert len(first["events"]) == 5
    assert first["next"] == first["events"][-1]["id"]
    rest = (await api.get("/api/events", params={"after": first["next"], "limit": 1000})).json()
    assert rest["events"]
    assert rest["events"][0]["id"] > first["next"]
    assert all(e["batch_id"] == BATCH for e in rest["events"])
    end = (await api.get("/api/events", params={"after": rest["next"]})).json()
    assert end == {"events": [], "next": rest["next"]}
    for params, field in (
        ({"after": "-1"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
    ):
        bad = await api.get("/api/events", params=params)
        assert bad.status_code == 400
        assert bad.json()["error"].startswith(f"bad {field}")


@pytest.mark.slow
async def test_unknown_and_hostile_ids_are_404s_naming_them(api: httpx.AsyncClient) -> None:
    missing = await api.get("/api/jobs/no-such-job")
    assert missing.status_code == 404
    assert "no-such-job" in missing.json()["error"]
    batch = await api.get("/api/batches/nope/jobs")
    assert batch.status_code == 404
    assert "'nope'" in batch.json()["error"]
    for hostile in ("..%2F..%2Fetc%2Fpasswd", "%00%1b[31m", "a" * 5000, "'%20OR%201=1--"):
        answer = await api.get(f"/api/jobs/{hostile}")
        assert answer.status_code == 404, hostile
        assert answer.headers["content-type"] == "application/json"
        assert len(answer.json()["error"]) < 400
    traversal = await api.get("/api/batches/../../etc/passwd")
    assert traversal.status_code == 404


@pytest.mark.slow
async def test_the_api_answers_on_a_real_loopback_server(recorded: Recorded) -> None:
    store = Store.for_path(recorded.db)
    try:
        app = build_app(ServeState(store=store, db_url=store.url))
        async with ThreadedServer(app) as server, httpx.AsyncClient(base_url=server.url) as c:
            batches = (await c.get("/api/batches")).json()["batches"]
            assert batches[0]["counts"]["done"] == 3
    finally:
        store.close()
