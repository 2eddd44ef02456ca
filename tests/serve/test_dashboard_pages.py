"""The dashboard's pages, files and stream, in process over a hand-made database: what each page
shows, everything escaped, only recorded files served (with ``Range``), the outbox streamed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from tests.serve.dashboard_kit import HOSTILE, hand_made

from reelforge._serve import ThreadedServer
from reelforge.serve import ServeState, build_app
from reelforge.serve.dashboard import CSP
from reelforge.store import Store


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
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http
    state.close()


async def test_the_overview_shows_counts_cost_budget_and_providers(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    html = page.text
    assert 'href="/batches/spring"' in html
    assert "done 1" in html
    assert "failed 1" in html
    assert "waiting 2" in html
    assert "$0.40</span> / $10.00" in html
    assert "openai" in html
    assert 'data-percent="50"' in html  # 2 of 4 ended


async def test_the_gallery_has_a_card_per_job_with_its_files_and_dimensions(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    html = (await client.get("/batches/spring")).text
    assert html.count('<article class="card"') == 4
    done = ids["done"]
    assert f'src="/files/{done}/thumbnail"' in html
    assert f'data-video="/files/{done}/video"' in html
    # 640x288 of 128x72 tiles (the thumbnail's 16:9): 5 columns, 4 rows.
    assert 'data-sprite-columns="5" data-sprite-rows="4"' in html
    assert 'data-filter="dim:aesthetic"' in html
    assert '<option value="lo-fi">lo-fi</option>' in html
    assert 'data-dim-0="aesthetic=cinematic"' in html
    assert "bad size" in html  # the failed job's error


async def test_one_card_is_served_alone_as_the_gallery_shows_it(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    done = ids["done"]
    gallery = (await client.get("/batches/spring")).text
    answer = await client.get(f"/batches/spring/cards/{done}")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == CSP
    assert answer.headers["cache-control"] == "no-store"
    html = answer.text
    assert html.count('<article class="card"') == 1
    assert f'src="/files/{done}/thumbnail"' in html
    assert f'data-video="/files/{done}/video"' in html
    # The very markup the gallery has for it, so the page can swap one for the other.
    start = html.index('<article class="card"')
    card = html[start : html.index("</article>", start)]
    assert card in gallery
    assert 'data-gallery-batch="spring"' in gallery
    hostile = (await client.get(f"/batches/spring/cards/{ids['hostile']}")).text
    assert HOSTILE not in hostile


async def test_a_card_is_404_outside_its_batch(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    assert (await client.get(f"/batches/autumn/cards/{ids['done']}")).status_code == 404
    assert (await client.get("/batches/spring/cards/nope")).status_code == 404


async def test_user_input_is_escaped_everywhere(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    for path in ("/", "/batches/spring", f"/jobs/{ids['hostile']}"):
        html = (await client.get(path)).text
        assert HOSTILE not in html, path
    gallery = (await client.get("/batches/spring")).text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in gallery
    job = (await client.get(f"/jobs/{ids['hostile']}")).text
    assert "ad &lt;script&gt;" in job


async def test_a_job_page_shows_prompt_findings_ids_files_and_history(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    html = (await client.get(f"/jobs/{ids['done']}")).text
    assert "cinematic hero ad: a can on a cliff" in html
    assert "the template&#39;s prompt" in html
    assert "claims.superlative" in html
    assert "video_abc123" in html
    assert "<code>req_42</code>" in html
    assert "ab" * 32 in html
    assert 'href="/files/' + ids["done"] + '/video">video.mp4</a>' in html
    assert html.count('<li class="kind-') >= 8
    assert 'name="csrf_token"' in html


async def test_unknown_batches_and_jobs_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/batches/nope")).status_code == 404
    assert (await client.get("/jobs/nope")).status_code == 404


async def test_recorded_files_are_served_with_range(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    done = ids["done"]
    whole = await client.get(f"/files/{done}/video")
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    part = await client.get(f"/files/{done}/video", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == whole.content[10:20]
    thumb = await client.get(f"/files/{done}/thumbnail")
    assert thumb.headers["content-type"] == "image/webp"


@pytest.mark.parametrize(
    "path",
    [
        "/files/{waiting}/video",  # a job with no files yet
        "/files/{done}/job.json",  # not a variant
        "/files/{done}/..%2F..%2F..%2Fetc%2Fpasswd",
        "/files/..%2Fspring%2Fdone/video",
        "/files/nope/video",
    ],
)
async def test_nothing_but_recorded_assets_is_served(
    client: httpx.AsyncClient, ids: dict[str, str], path: str
) -> None:
    answer = await client.get(path.format(**ids))
    assert answer.status_code == 404


async def test_a_recorded_file_gone_from_disk_is_404(
    client: httpx.AsyncClient, ids: dict[str, str], store: Store
) -> None:
    [video] = [a for a in store.assets(ids["done"]) if a.variant.value == "video"]
    video.path.unlink()
    assert (await client.get(f"/files/{ids['done']}/video")).status_code == 404


async def test_the_static_files_ship_in_the_package(client: httpx.AsyncClient) -> None:
    script = await client.get("/static/dashboard.js")
    assert script.status_code == 200
    assert "EventSource" in script.text
    assert (await client.get("/static/dashboard.css")).status_code == 200


def test_the_stream_follows_the_outbox_from_the_cursor(store: Store, ids: dict[str, str]) -> None:
    head = store.outbox_backlog(0).head
    state = ServeState(store=store, db_url=store.url)
    with ThreadedServer(build_app(state)) as server, httpx.Client(timeout=10) as http:
        url = f"http://127.0.0.1:{server.port}/stream"
        with http.stream("GET", url, params={"after": head}) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            store.record_note(ids["waiting"], "from another process")
            messages = _read(answer.iter_lines(), until="batch")
    state.close()
    [job] = [m for m in messages if m["event"] == "job"]
    assert job["id"] == str(head + 1)
    assert job["data"]["job_id"] == ids["waiting"]
    assert job["data"]["state"] == "waiting"
    assert job["data"]["kind"] == "note"
    [batch] = [m for m in messages if m["event"] == "batch"]
    assert batch["data"]["counts"] == {"done": 1, "failed": 1, "waiting": 2}


def _read(lines: Iterator[str], *, until: str) -> list[dict[str, object]]:
    messages: list[dict[str, object]] = []
    current: dict[str, object] = {}
    for line in lines:
        if not line:
            if "event" in current:
                messages.append(current)
                if current["event"] == until:
                    return messages
            current = {}
            continue
        name, _, value = line.partition(": ")
        if name == "data":
            current["data"] = json.loads(value)
        elif name in ("event", "id"):
            current[name] = value
    return messages


def test_open_streams_end_when_the_server_stops(store: Store, ids: dict[str, str]) -> None:
    state = ServeState(store=store, db_url=store.url)
    stopping = threading.Event()
    state.stopping = stopping  # type: ignore[attr-defined]  # set by the runner if it has one
    with ThreadedServer(build_app(state)) as server, httpx.Client(timeout=10) as http:
        url = f"http://127.0.0.1:{server.port}/stream"
        with http.stream("GET", url, params={"after": 10_000}) as answer:
            lines = answer.iter_lines()
            assert next(lines) == "retry: 2000"
            started = time.monotonic()
            stopping.set()
            rest = list(lines)  # the response ends: no wait for uvicorn's shutdown timeout
            assert time.monotonic() - started < 3
    state.close()
    assert all(not line.startswith("event:") for line in rest)
