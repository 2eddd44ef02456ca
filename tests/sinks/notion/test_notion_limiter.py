"""The limiter keeps every 10-second window at or below 3 requests per second on average."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from notion_helpers import TOKEN, FakeClock, add_jobs, event

from reelforge.fakenotion import EmbeddedFakeNotion, FakeNotionConfig, FakeNotionState
from reelforge.sinks.notion import (
    NotionSettings,
    NotionSink,
    RateLimiter,
    init_database,
    make_client,
)
from reelforge.store import Store


def _max_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_a_burst_of_requests_is_spread_to_three_per_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3.0, burst=3, clock=clock)
    times = []
    for _ in range(90):
        await limiter.acquire()
        times.append(clock.now())
    assert times[:3] == [1000.0] * 3  # a small burst goes out at once
    assert _max_in_window(times, 10.0) <= 30
    assert _max_in_window(times, 1.0) <= 3
    assert times[-1] - times[0] == pytest.approx(29.0)


async def test_a_pause_holds_every_caller() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3.0, clock=clock)
    limiter.pause(12.0)
    await limiter.acquire()
    assert clock.now() == pytest.approx(1012.0)


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(3.0, burst=0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limited(clock: FakeClock) -> Iterator[EmbeddedFakeNotion]:
    """A fake Notion enforcing Notion's 3 requests/second (bursts of 10) on the same clock."""
    state = FakeNotionState(FakeNotionConfig(tokens=(TOKEN,), rate_limit=True), clock=clock)
    with EmbeddedFakeNotion(state=state) as emb:
        yield emb


async def test_thirty_deliveries_stay_within_notions_limit(
    limited: EmbeddedFakeNotion, clock: FakeClock, store: Store, out_dir: Path
) -> None:
    ids = limited.state.create_database("Jobs", {"Name": {"title": {}}})
    settings = NotionSettings(token=TOKEN, database_id=ids.database_id, base_url=limited.base_url)
    sent: list[float] = []

    async def stamp(request: httpx.Request) -> None:
        sent.append(clock.now())

    http = httpx.AsyncClient(event_hooks={"request": [stamp]})
    client = make_client(settings, http=http)
    limiter = RateLimiter(3.0, burst=3, clock=clock)
    await init_database(client, settings, limiter=limiter)
    sink = NotionSink(client, settings, store=store, limiter=limiter, clock=clock)
    jobs = add_jobs(store, 30, out_dir=out_dir)
    for job in jobs:
        await sink.deliver(event(store, job))
    await sink.aclose()

    records = limited.state.log.records
    assert limited.state.log.page_creates() == 30
    assert [r for r in records if r.status != 200] == []
    assert len(records) == len(sent) == 3 + 2 + 2 * 30  # init, schema, query + create per job
    assert limited.state.log.max_in_window(10.0) <= 30
    assert _max_in_window(sent, 10.0) <= 30
    assert sent[-1] - sent[0] >= (len(sent) - 3) / 3.0
