"""The Notion sink against the fake Notion and a real SQLite store: one page per job, kept right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from notion_client import AsyncClient
from notion_helpers import (
    BATCH,
    add_jobs,
    event,
    every_event,
    fail,
    finish,
    plain,
    submit,
)

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState
from reelforge.fakenotion import CreatedDatabase, EmbeddedFakeNotion
from reelforge.sinks.base import SinkUnavailableError
from reelforge.sinks.notion import NotionSettings, NotionSink, NotionUnavailableError
from reelforge.store import Store


def _pages(fake: EmbeddedFakeNotion, db: CreatedDatabase) -> list[dict[str, Any]]:
    return fake.state.pages(db.data_source_id)


def _page_of(fake: EmbeddedFakeNotion, db: CreatedDatabase, job: str) -> dict[str, Any]:
    found = [p["properties"] for p in _pages(fake, db) if plain(p["properties"]["Job ID"]) == job]
    assert len(found) == 1, f"{len(found)} pages for {job}"
    return {name: plain(value) for name, value in found[0].items()}


def _creates(fake: EmbeddedFakeNotion) -> int:
    return fake.state.log.page_creates()


async def test_each_job_gets_one_page_however_often_its_events_come(
    fake: EmbeddedFakeNotion,
    ready: CreatedDatabase,
    sink: NotionSink,
    store: Store,
    out_dir: Path,
) -> None:
    jobs = add_jobs(store, 3, out_dir=out_dir)
    for job in jobs:
        await sink.deliver(event(store, job))
    submit(store, jobs[0], "video_a")
    finish(store, jobs[1], "video_b", out_dir)
    for job in jobs:
        for item in every_event(store, job):
            await sink.deliver(item)

    assert _creates(fake) == 3
    assert len(_pages(fake, ready)) == 3
    for job in jobs:
        assert store.external_id("notion", job) is not None
    assert _page_of(fake, ready, jobs[1])["Status"] == "Completed"


async def test_a_replay_with_the_same_snapshot_sends_nothing(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    [job] = add_jobs(store, 1, out_dir=out_dir)
    await sink.deliver(event(store, job))
    sent = len(fake.state.log.records)
    for item in every_event(store, job):
        await sink.deliver(item)
    assert len(fake.state.log.records) == sent


async def test_a_lost_page_id_is_found_again_by_job_id(
    fake: EmbeddedFakeNotion,
    ready: CreatedDatabase,
    client: AsyncClient,
    settings: NotionSettings,
    store: Store,
    out_dir: Path,
    tmp_path: Path,
) -> None:
    [job] = add_jobs(store, 1, out_dir=out_dir)
    first = NotionSink(client, settings, store=store, rate=1000.0, burst=100)
    await first.deliver(event(store, job))
    page = store.external_id("notion", job)

    # The same jobs in a store that never recorded the page (a crash before the record).
    with Store.for_path(tmp_path / "other.sqlite") as other:
        other.migrate()
        add_jobs(other, 1, out_dir=out_dir)
        submit(other, job, "video_x")
        second = NotionSink(client, settings, store=other, rate=1000.0, burst=100)
        await second.deliver(event(other, job))
        assert other.external_id("notion", job) == page

    assert _creates(fake) == 1
    assert _page_of(fake, ready, job)["Video ID"] == "video_x"


async def test_a_page_deleted_in_notion_is_made_again(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    [job] = add_jobs(store, 1, out_dir=out_dir)
    await sink.deliver(event(store, job))
    old = store.external_id("notion", job)
    assert old is not None
    fake.state.update_page(old, {"in_trash": True})
    submit(store, job, "video_y")
    await sink.deliver(event(store, job))
    new = store.external_id("notion", job)
    assert new not in (None, old)
    assert _page_of(fake, ready, job)["Video ID"] == "video_y"


async def test_a_long_prompt_is_split_into_text_objects(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    prompt = ("a slow dolly shot over a misty lake at dawn 🌅 " * 120).strip()
    [job] = add_jobs(store, 1, out_dir=out_dir, prompt=prompt)
    await sink.deliver(event(store, job))
    [page] = _pages(fake, ready)
    pieces = page["properties"]["Prompt"]["rich_text"]
    assert len(pieces) == 3  # 5,759 UTF-16 units (the emoji count twice)
    assert all(len(p["plain_text"].encode("utf-16-le")) // 2 <= 2000 for p in pieces)
    assert "".join(p["plain_text"] for p in pieces) == prompt


async def test_a_done_job_has_status_video_id_cost_and_links(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    [job] = add_jobs(store, 1, out_dir=out_dir)
    finish(store, job, "video_done", out_dir, cost="0.64")
    await sink.deliver(event(store, job))
    page = _page_of(fake, ready, job)
    folder = (out_dir / BATCH / "combo-0").resolve()
    assert page["Name"] == "Acme / cinematic / product hero"
    assert page["Job ID"] == job
    assert page["Batch"] == BATCH
    assert page["Status"] == "Completed"
    assert page["Progress"] == 1.0  # 100 % in a percent-formatted number
    assert page["Video ID"] == "video_done"
    assert page["Model"] == "sora-2"
    assert page["Seconds"] == 8
    assert page["Size"] == "1280x720"
    assert page["Cost"] == 0.64
    assert page["Video"] == (folder / "video.mp4").as_uri()
    assert page["Thumbnail"] == (folder / "thumbnail.webp").as_uri()
    assert page["Error Type"] is None
    assert page["Error"] == ""
    assert page["Brand"] == "Acme"
    assert page["Big Idea"] == "Refreshment that keeps up"
    assert page["Combination ID"] == "c0000"
    assert page["Aesthetic"] == "cinematic"
    assert page["Type"] == "product hero"
    assert page["Updated"].endswith("+00:00")


async def test_asset_links_use_the_public_base_url(
    fake: EmbeddedFakeNotion,
    ready: CreatedDatabase,
    client: AsyncClient,
    settings: NotionSettings,
    store: Store,
    out_dir: Path,
) -> None:
    public = settings.model_copy(update={"public_base_url": "https://cdn.example.com/videos"})
    sink = NotionSink(client, public, store=store, rate=1000.0, burst=100)
    [job] = add_jobs(store, 1, out_dir=out_dir)
    finish(store, job, "video_pub", out_dir)
    await sink.deliver(event(store, job))
    page = _page_of(fake, ready, job)
    assert page["Video"] == f"https://cdn.example.com/videos/{BATCH}/combo-0/video.mp4"
    assert page["Thumbnail"] == f"https://cdn.example.com/videos/{BATCH}/combo-0/thumbnail.webp"


async def test_failed_and_rejected_jobs_carry_their_error_type(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    jobs = add_jobs(store, 4, out_dir=out_dir)
    fail(store, jobs[0], "video_f", ErrorCategory.GENERATION_FAILED, "the model gave up")
    fail(store, jobs[1], "video_p", ErrorCategory.CONTENT_POLICY, "moderation_blocked: no")
    store.transition(
        jobs[2], JobState.REJECTED, category=ErrorCategory.COMPLIANCE, error="banned word: cure"
    )
    fail(store, jobs[3], "video_t", ErrorCategory.TRANSIENT, "HTTP 500 " + "x" * 3000)
    for job in jobs:
        await sink.deliver(event(store, job))

    failed = _page_of(fake, ready, jobs[0])
    assert (failed["Status"], failed["Error Type"]) == ("Failed", "generation_failed")
    assert failed["Error"] == "the model gave up"
    assert failed["Video ID"] == "video_f"
    assert failed["Cost"] == 0  # ended unpaid
    refused = _page_of(fake, ready, jobs[1])
    assert (refused["Status"], refused["Error Type"]) == ("Failed", "compliance_failed")
    rejected = _page_of(fake, ready, jobs[2])
    assert (rejected["Status"], rejected["Error Type"]) == ("Rejected", "compliance_failed")
    assert rejected["Error"] == "banned word: cure"
    assert rejected["Video ID"] == ""
    other = _page_of(fake, ready, jobs[3])
    assert other["Error Type"] == "api_error"
    assert len(other["Error"]) == 2000
    assert other["Error"].endswith("…")


async def test_later_events_supersede_and_a_retry_clears_the_error(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    [job] = add_jobs(store, 1, out_dir=out_dir)
    fail(store, job, "video_1", ErrorCategory.TIMEOUT, "still running after 600 s")
    await sink.deliver(event(store, job))
    assert _page_of(fake, ready, job)["Error Type"] == "timeout"
    store.retry(job)
    await sink.deliver(event(store, job))
    page = _page_of(fake, ready, job)
    assert page["Status"] == "Queued"
    assert page["Error Type"] is None
    assert page["Error"] == ""
    assert page["Video ID"] == ""


async def test_the_video_id_is_written_as_soon_as_it_is_known(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    [job] = add_jobs(store, 1, out_dir=out_dir)
    store.transition(job, JobState.WAITING)
    token = store.record_intent(job)
    await sink.deliver(event(store, job))
    assert _page_of(fake, ready, job)["Status"] == "Queued"
    store.record_remote_id(job, token, "video_early", state=JobState.IN_PROGRESS, progress=5)
    await sink.deliver(event(store, job))
    page = _page_of(fake, ready, job)
    assert (page["Video ID"], page["Status"], page["Progress"]) == (
        "video_early",
        "In Progress",
        0.05,
    )


async def test_properties_the_database_lacks_are_left_out(
    fake: EmbeddedFakeNotion, client: AsyncClient, store: Store, out_dir: Path
) -> None:
    from notion_helpers import TOKEN

    ids = fake.state.create_database(
        "Minimal",
        {
            "Variation": {"title": {}},
            "Job ID": {"rich_text": {}},
            "Status": {"status": {"options": [{"name": "Pending"}, {"name": "Completed"}]}},
            "Progress": {"number": {"format": "number"}},
        },
    )
    settings = NotionSettings(token=TOKEN, database_id=ids.database_id, base_url=fake.base_url)
    sink = NotionSink(client, settings, store=store, rate=1000.0, burst=100)
    [job] = add_jobs(store, 1, out_dir=out_dir)
    await sink.deliver(event(store, job))
    submit(store, job, "video_m")
    store.record_progress(job, JobState.IN_PROGRESS, 45)
    await sink.deliver(event(store, job))  # "In Progress" is no option of this status
    [page] = fake.state.pages(ids.data_source_id)
    values = {name: plain(value) for name, value in page["properties"].items()}
    assert values == {
        "Variation": "Acme / cinematic / product hero",
        "Job ID": job,
        "Status": "Pending",
        "Progress": 45,
    }


async def test_a_job_outside_a_campaign_is_titled_by_its_key(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    [job] = add_jobs(store, 1, out_dir=out_dir, labels={"brand": "acme", "lang": "en"})
    await sink.deliver(event(store, job))
    page = _page_of(fake, ready, job)
    assert page["Name"] == "combo-0"
    assert page["Brand"] == "acme"


async def test_a_database_with_several_data_sources_waits_for_a_choice(
    fake: EmbeddedFakeNotion,
    ready: CreatedDatabase,
    sink: NotionSink,
    store: Store,
    out_dir: Path,
) -> None:
    from reelforge.sinks.base import SinkUnavailableError

    fake.state.add_data_source(ready.database_id, {"Name": {"title": {}}}, name="Archive")
    [job] = add_jobs(store, 1, out_dir=out_dir)
    with pytest.raises(SinkUnavailableError, match="NOTION_DATA_SOURCE_ID"):
        await sink.deliver(event(store, job))


async def test_a_create_without_an_answer_is_not_repeated_while_search_lags(
    fake: EmbeddedFakeNotion,
    ready: CreatedDatabase,
    sink: NotionSink,
    store: Store,
    out_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Notion created the page but the answer was lost, and its search does not show the page
    yet: the sink waits (unavailable) instead of creating a second page."""
    [job] = add_jobs(store, 1, out_dir=out_dir)
    real_call = sink._api.call
    lagging = {"on": True}

    async def call(method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        if method == "POST" and path.endswith("/query") and lagging["on"]:
            return {"object": "list", "results": [], "next_cursor": None, "has_more": False}
        answer = await real_call(method, path, body, **kwargs)
        if method == "POST" and path == "pages":
            raise NotionUnavailableError("the connection dropped before the answer")
        return answer

    monkeypatch.setattr(sink._api, "call", call)
    for _ in range(3):
        with pytest.raises(SinkUnavailableError):
            await sink.deliver(event(store, job))
    assert _creates(fake) == 1

    lagging["on"] = False  # the page shows in queries now: it is adopted, not made again
    submit(store, job, "video_lag")
    await sink.deliver(event(store, job))
    assert _creates(fake) == 1
    assert _page_of(fake, ready, job)["Video ID"] == "video_lag"
    assert not str(store.external_id("notion", job)).startswith("pending:")
