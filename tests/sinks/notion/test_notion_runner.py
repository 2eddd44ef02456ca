"""The Notion sink under the sinks runner: the outbox reaches Notion, and catches up after an
outage without losing or duplicating a row."""

from __future__ import annotations

from pathlib import Path

from notion_helpers import FakeClock, add_jobs, fail, finish, plain, submit

from reelforge.core.errors import ErrorCategory
from reelforge.fakenotion import CreatedDatabase, EmbeddedFakeNotion
from reelforge.sinks import SinkRunner, sink_status
from reelforge.sinks.notion import NotionSink
from reelforge.store import Store


async def test_drain_brings_every_job_to_notion_and_catches_up_after_an_outage(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    jobs = add_jobs(store, 3, out_dir=out_dir)
    clock = FakeClock()
    runner = SinkRunner(store, [sink], clock=clock, sleep=clock.sleep)
    assert await runner.drain()
    assert fake.state.log.page_creates() == 3

    finish(store, jobs[0], "video_0", out_dir)
    fail(store, jobs[1], "video_1", ErrorCategory.GENERATION_FAILED, "no video")
    submit(store, jobs[2], "video_2")
    fake.state.set_outage(503)
    assert not await runner.drain(deadline=clock.now() + 30.0)
    [status] = sink_status(store, ["notion"])
    assert status.lag_events > 0
    assert status.last_error is not None
    assert "HTTP 503" in status.last_error

    fake.state.set_outage(None)
    assert await runner.drain()
    [status] = sink_status(store, ["notion"])
    assert status.lag_events == 0
    assert fake.state.log.page_creates() == 3
    states = {
        plain(p["properties"]["Job ID"]): plain(p["properties"]["Status"])
        for p in fake.state.pages(ready.data_source_id)
    }
    assert states == {jobs[0]: "Completed", jobs[1]: "Failed", jobs[2]: "Queued"}
    await runner.aclose()
