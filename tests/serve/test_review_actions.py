"""The dashboard's actions as a JSON API: a review verdict becomes a ``review`` event (and shows
in ``GET /api/events``); bad verdicts, unfinished clips, unknown jobs and cross-site requests
change nothing; retry, cancel and poke act as their commands do; plain forms work too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from tests.serve.dashboard_kit import hand_made

from reelforge.core.models import JobState
from reelforge.serve import ServeState, build_app
from reelforge.serve.actions import MAX_NOTE
from reelforge.serve.auth import CSRF_HEADER, csrf_token
from reelforge.store import EventKind, ReviewVerdict, Store

BASE = "http://127.0.0.1:8787"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.for_path(tmp_path / "db.sqlite") as opened:
        opened.migrate()
        yield opened


@pytest.fixture
def ids(store: Store, tmp_path: Path) -> dict[str, str]:
    return hand_made(store, tmp_path / "out")


@pytest.fixture
async def client(store: Store, ids: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    state = ServeState(store=store, db_url=store.url)
    transport = httpx.ASGITransport(app=build_app(state))
    headers = {CSRF_HEADER: csrf_token()}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as http:
        yield http
    state.close()


def _reviews(store: Store, job: str) -> list[dict[str, object]]:
    return [dict(e.data) for e in store.history(job) if e.kind is EventKind.REVIEW]


async def test_an_approval_is_recorded_as_an_event(
    client: httpx.AsyncClient, store: Store, ids: dict[str, str]
) -> None:
    job = ids["done"]
    answer = await client.post(
        f"/api/jobs/{job}/review", json={"verdict": "approved", "note": " fine "}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["review"]["verdict"] == "approved"
    assert body["review"]["note"] == "fine"
    assert _reviews(store, job) == [{"verdict": "approved", "note": "fine"}]
    review = store.latest_review(job)
    assert review is not None
    assert review.verdict is ReviewVerdict.APPROVED
    assert review.event_id == body["event_id"]

    events = await client.get("/api/events", params={"after": body["event_id"] - 1})
    assert events.status_code == 200
    assert '"review"' in events.text


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"verdict": "maybe"}, 400, "verdict must be"),
        ({}, 400, "verdict must be"),
        ({"verdict": "rejected"}, 400, "needs a note"),
        ({"verdict": "rejected", "note": "x" * (MAX_NOTE + 1)}, 400, "longer than"),
        ({"verdict": "approved", "note": 3}, 400, "note must be text"),
    ],
)
async def test_a_bad_review_is_refused_and_records_nothing(
    client: httpx.AsyncClient,
    store: Store,
    ids: dict[str, str],
    body: dict[str, object],
    status: int,
    message: str,
) -> None:
    answer = await client.post(f"/api/jobs/{ids['done']}/review", json=body)
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert _reviews(store, ids["done"]) == []


async def test_only_a_finished_clip_is_reviewed(
    client: httpx.AsyncClient, store: Store, ids: dict[str, str]
) -> None:
    answer = await client.post(f"/api/jobs/{ids['waiting']}/review", json={"verdict": "approved"})
    assert answer.status_code == 409
    assert "waiting" in answer.json()["error"]
    unknown = await client.post("/api/jobs/nope/review", json={"verdict": "approved"})
    assert unknown.status_code == 404
    assert _reviews(store, ids["waiting"]) == []


async def test_a_review_without_the_csrf_token_or_from_elsewhere_is_refused(
    client: httpx.AsyncClient, store: Store, ids: dict[str, str]
) -> None:
    url = f"/api/jobs/{ids['done']}/review"
    bare = await client.post(url, json={"verdict": "approved"}, headers={CSRF_HEADER: ""})
    assert bare.status_code == 403
    elsewhere = await client.post(
        url, json={"verdict": "approved"}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    assert _reviews(store, ids["done"]) == []


async def test_a_plain_form_records_the_review_and_goes_back(
    client: httpx.AsyncClient, store: Store, ids: dict[str, str]
) -> None:
    job = ids["done"]
    request = client.build_request(
        "POST",
        f"/api/jobs/{job}/review",
        data={"verdict": "rejected", "note": "off brand", "csrf_token": csrf_token()},
        headers={"Origin": BASE, "Referer": f"{BASE}/jobs/{job}"},
    )
    del request.headers[CSRF_HEADER]  # a plain HTML form carries the token as a field
    answer = await client.send(request)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/jobs/{job}"
    assert _reviews(store, job) == [{"verdict": "rejected", "note": "off brand"}]


async def test_retry_sends_the_failed_jobs_back_to_the_queue(
    client: httpx.AsyncClient, store: Store, ids: dict[str, str]
) -> None:
    answer = await client.post("/api/batches/spring/retry")
    assert answer.status_code == 200, answer.text
    assert answer.json()["retried"] == 1
    assert store.get_job(ids["failed"]).state is JobState.WAITING
    assert store.get_job(ids["done"]).state is JobState.DONE
    assert (await client.post("/api/batches/nope/retry")).status_code == 404


async def test_cancel_and_poke_act_like_their_commands(
    client: httpx.AsyncClient, store: Store, ids: dict[str, str]
) -> None:
    waiting = ids["waiting"]
    poked = await client.post(f"/api/jobs/{waiting}/poke")
    assert poked.status_code == 409
    assert "no running workflow" in poked.json()["error"]

    canceled = await client.post(f"/api/jobs/{waiting}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["outcome"] == "canceled"
    assert store.get_job(waiting).state is JobState.CANCELED

    again = await client.post(f"/api/jobs/{ids['done']}/cancel")
    assert again.status_code == 200
    assert again.json()["outcome"] == "already_ended"
    assert store.get_job(ids["done"]).state is JobState.DONE
