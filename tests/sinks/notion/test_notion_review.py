"""The Notion sink writes the job's latest review into ``Review`` (a select, or text) and
``Review Note``; the fake Notion validates the values as Notion does."""

from __future__ import annotations

from pathlib import Path

from notion_helpers import add_jobs, finish, plain

from reelforge.fakenotion import CreatedDatabase, EmbeddedFakeNotion
from reelforge.sinks.base import SinkEvent
from reelforge.sinks.notion import NotionSink
from reelforge.store import ReviewVerdict, Store


def _reviewed(store: Store, job: str) -> SinkEvent:
    return SinkEvent(
        event=store.history(job)[-1],
        job=store.get_job(job),
        assets=tuple(store.assets(job)),
        review=store.latest_review(job),
    )


def _page(fake: EmbeddedFakeNotion, db: CreatedDatabase, job: str) -> dict[str, object]:
    [page] = [
        p["properties"]
        for p in fake.state.pages(db.data_source_id)
        if plain(p["properties"]["Job ID"]) == job
    ]
    return {name: plain(value) for name, value in page.items()}


async def test_a_review_fills_review_and_its_note(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    [job] = add_jobs(store, 1, out_dir=out_dir)
    finish(store, job, "video_done", out_dir)
    await sink.deliver(_reviewed(store, job))
    page = _page(fake, ready, job)
    assert page["Review"] is None
    assert page["Review Note"] == ""

    store.record_review(job, ReviewVerdict.REJECTED, "the can is upside down")
    await sink.deliver(_reviewed(store, job))
    page = _page(fake, ready, job)
    assert page["Review"] == "Rejected"
    assert page["Review Note"] == "the can is upside down"

    store.record_review(job, ReviewVerdict.APPROVED)
    await sink.deliver(_reviewed(store, job))
    page = _page(fake, ready, job)
    assert page["Review"] == "Approved"
    assert page["Review Note"] == ""


async def test_a_text_review_property_gets_the_verdict_as_text(
    fake: EmbeddedFakeNotion,
    database: CreatedDatabase,
    sink: NotionSink,
    store: Store,
    out_dir: Path,
) -> None:
    fake.state.update_data_source(
        database.data_source_id,
        {"properties": {"Job ID": {"rich_text": {}}, "Review": {"rich_text": {}}}},
    )
    [job] = add_jobs(store, 1, out_dir=out_dir)
    finish(store, job, "video_done", out_dir)
    store.record_review(job, ReviewVerdict.APPROVED, "ship it")
    await sink.deliver(_reviewed(store, job))
    page = _page(fake, database, job)
    assert page["Review"] == "Approved"
    assert "Review Note" not in page
