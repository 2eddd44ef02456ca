"""A delivery never outlives drain's deadline, stop() or the runner's delivery timeout: a
destination that hangs (a trickling answer, a long Retry-After pause inside the sink) is cut
short, and its event stays behind the cursor to be sent again."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sink_helpers import FakeTime, add_batch

from reelforge.sinks import Backoff, SinkEvent, SinkRunner
from reelforge.sinks.notion import NotionSettings, NotionSink, make_client
from reelforge.sinks.notion._api import MAX_RETRY_AFTER
from reelforge.store import Store

FAST = Backoff(base=0.01, cap=0.01)


class HangingSink:
    """A sink whose first ``hangs`` deliveries never return (until cancelled)."""

    def __init__(self, hangs: int = 1_000_000, name: str = "hanging") -> None:
        self._name = name
        self.hangs = hangs
        self.attempts = 0
        self.delivered: list[int] = []
        self.started = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name

    async def deliver(self, item: SinkEvent) -> None:
        self.attempts += 1
        self.started.set()
        if self.attempts <= self.hangs:
            await asyncio.Event().wait()
        self.delivered.append(item.event.id)

    async def aclose(self) -> None:
        pass


async def test_drain_returns_at_its_deadline_while_a_delivery_hangs(store: Store) -> None:
    add_batch(store, 1)
    sink = HangingSink()
    runner = SinkRunner(store, [sink], backoff=FAST)
    start = time.monotonic()
    async with asyncio.timeout(10):
        assert await runner.drain(deadline=start + 0.5) is False
    assert time.monotonic() - start < 1.5
    state = store.sink_cursor("hanging")
    assert (state.cursor, state.delivered) == (0, 0)
    assert "cut short by the deadline" in (state.last_error or "")
    assert store.sink_lease("hanging") is None


async def test_stop_interrupts_a_hanging_delivery(store: Store) -> None:
    add_batch(store, 1)
    sink = HangingSink()
    runner = SinkRunner(store, [sink])
    task = asyncio.create_task(runner.run_forever(poll_interval=0.01))
    async with asyncio.timeout(10):
        await sink.started.wait()
        runner.stop()
        await task
    assert store.sink_cursor("hanging").cursor == 0
    assert "stopping" in (store.sink_cursor("hanging").last_error or "")
    assert store.sink_lease("hanging") is None
    # Stopped drains end too, and the event is still there to send.
    draining = asyncio.create_task(runner.drain())
    async with asyncio.timeout(10):
        await sink.started.wait()
        runner.stop()
        assert await draining is False
    assert store.sink_cursor("hanging").cursor == 0


async def test_a_delivery_is_cut_short_after_the_delivery_timeout_and_retried(
    store: Store,
) -> None:
    add_batch(store, 1)
    sink = HangingSink(hangs=1)
    runner = SinkRunner(store, [sink], backoff=FAST, delivery_timeout=0.2)
    async with asyncio.timeout(10):
        assert await runner.drain() is True
    assert sink.attempts == 2
    assert sink.delivered == [event.id for event in store.events_after(0, 10)]
    assert "no answer within 0.2 s" in (store.sink_cursor("hanging").last_error or "")


async def test_a_sinks_own_timeout_error_is_a_failure_retried_like_others(store: Store) -> None:
    add_batch(store, 1)
    attempts: list[int] = []

    class TimingOut(HangingSink):
        async def deliver(self, item: SinkEvent) -> None:
            attempts.append(item.event.id)
            if len(attempts) == 1:
                raise TimeoutError("the sink's own")
            self.delivered.append(item.event.id)

    runner = SinkRunner(store, [TimingOut()], backoff=FAST)
    async with asyncio.timeout(10):
        assert await runner.drain() is True
    assert len(attempts) == 2


def test_a_delivery_must_end_before_the_lease_can_lapse(store: Store) -> None:
    with pytest.raises(ValueError, match="shorter than lease_ttl"):
        SinkRunner(store, [HangingSink()], delivery_timeout=120, lease_ttl=120)
    with pytest.raises(ValueError, match="positive"):
        SinkRunner(store, [HangingSink()], delivery_timeout=0)


def test_notion_pauses_no_longer_than_the_runner_honours_a_retry_after() -> None:
    assert Backoff().max_retry_after >= MAX_RETRY_AFTER


async def test_a_long_notion_retry_after_does_not_hold_a_drain_past_its_deadline(
    store: Store, fake_time: FakeTime
) -> None:
    add_batch(store, 1)

    def rate_limited(request: httpx.Request) -> httpx.Response:
        body = {"object": "error", "status": 429, "code": "rate_limited", "message": "slow"}
        return httpx.Response(429, headers={"retry-after": "3600"}, json=body)

    settings = NotionSettings(token="secret_tok", database_id="db1", base_url="http://n.test")
    http = httpx.AsyncClient(transport=httpx.MockTransport(rate_limited), base_url="http://n.test")
    sink = NotionSink(make_client(settings, http=http), settings, store=store)
    # Fake time for the runner's own waits; the limiter inside the sink sleeps for real.
    runner = SinkRunner(
        store, [sink], clock=fake_time.clock, sleep=fake_time.sleep, delivery_timeout=0.3
    )
    start = time.monotonic()
    try:
        async with asyncio.timeout(10):
            assert await runner.drain(deadline=fake_time.clock() + 30) is False
    finally:
        await runner.aclose()
        await http.aclose()
    assert time.monotonic() - start < 5
    assert store.sink_cursor("notion").cursor == 0
