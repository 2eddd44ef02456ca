"""The runner: order, coalescing, retries with backoff, refusals, disabling, independence,
and continuing from the durable cursor after a restart."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from sink_helpers import FakeTime, RecordingSink, WallClock, add_batch, run_to_done

from reelforge.core.models import JobState
from reelforge.sinks import (
    Backoff,
    SinkDisabledError,
    SinkEvent,
    SinkRejectedError,
    SinkRunner,
    SinkUnavailableError,
    coalesce_progress,
    sink_status,
)
from reelforge.store import EventKind, Store


def _runner(
    store: Store, *sinks: RecordingSink, fake_time: FakeTime, **kwargs: object
) -> SinkRunner:
    return SinkRunner(
        store,
        list(sinks),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        rng=random.Random(7),
        **kwargs,  # type: ignore[arg-type]
    )


async def test_every_event_is_delivered_once_in_order_with_its_job(
    store: Store, fake_time: FakeTime
) -> None:
    first, second = add_batch(store, 2)
    run_to_done(store, first, "video_1")
    sink = RecordingSink()
    runner = _runner(store, sink, fake_time=fake_time)
    assert await runner.drain() is True
    events = store.events_after(0, 1000)
    assert sink.ids == [event.id for event in events]
    assert store.sink_cursor("recording").cursor == events[-1].id
    assert store.sink_cursor("recording").delivered == len(events)
    done = sink.delivered[-1]
    assert done.job.id == first
    assert done.job.state is JobState.DONE
    assert [asset.path.name for asset in done.assets] == ["video.mp4"]
    assert len(done.origin) == 8
    # Nothing new: a second pass delivers nothing again.
    assert await runner.drain() is True
    assert len(sink.delivered) == len(events)
    assert second in {item.job.id for item in sink.delivered}


async def test_progress_ticks_are_coalesced_but_state_changes_never(
    store: Store, fake_time: FakeTime
) -> None:
    first, second = add_batch(store, 2)
    run_to_done(store, first, "video_1", ticks=(10, 20, 30, 40))
    # The second job's last tick has no later event of its job: it is kept.
    store.transition(second, JobState.WAITING)
    token = store.record_intent(second)
    store.record_remote_id(second, token, "video_2")
    store.record_progress(second, JobState.IN_PROGRESS, 0)
    store.record_progress(second, JobState.IN_PROGRESS, 50)
    store.record_progress(second, JobState.IN_PROGRESS, 60)
    events = store.events_after(0, 1000)
    sink = RecordingSink()
    assert await _runner(store, sink, fake_time=fake_time).drain()
    delivered = [item.event for item in sink.delivered]
    assert [e for e in events if e.kind is not EventKind.PROGRESS] == [
        e for e in delivered if e.kind is not EventKind.PROGRESS
    ]
    ticks = [(e.job_id, e.progress) for e in delivered if e.kind is EventKind.PROGRESS]
    assert ticks == [(second, 60)]
    assert store.sink_cursor("recording").cursor == events[-1].id


async def test_coalescing_works_within_a_chunk_only(store: Store, fake_time: FakeTime) -> None:
    (job,) = add_batch(store, 1)
    store.transition(job, JobState.WAITING)
    token = store.record_intent(job)
    store.record_remote_id(job, token, "video_1")
    store.record_progress(job, JobState.IN_PROGRESS, 0)
    for tick in (10, 20, 30):
        store.record_progress(job, JobState.IN_PROGRESS, tick)
    events = store.events_after(0, 1000)
    assert sum(e.kind is EventKind.PROGRESS for e in events) == 3
    # A chunk of one event: nothing later in the chunk, so every tick is delivered.
    sink = RecordingSink()
    assert await _runner(store, sink, fake_time=fake_time, batch=1).drain()
    assert sink.ids == [e.id for e in events]


def test_coalesce_progress_keeps_the_last_tick_of_each_job(store: Store) -> None:
    first, second = add_batch(store, 2)
    for job in (first, second):
        store.transition(job, JobState.WAITING)
        token = store.record_intent(job)
        store.record_remote_id(job, token, f"video_{job[-1]}")
        store.record_progress(job, JobState.IN_PROGRESS, 0)
    store.record_progress(first, JobState.IN_PROGRESS, 10)
    store.record_progress(first, JobState.IN_PROGRESS, 20)
    store.record_progress(second, JobState.IN_PROGRESS, 10)
    store.record_progress(first, JobState.IN_PROGRESS, 30)
    events = store.events_after(0, 1000)
    kept = coalesce_progress(events)
    ticks = [(e.job_id, e.progress) for e in kept if e.kind is EventKind.PROGRESS]
    assert ticks == [(second, 10), (first, 30)]
    assert kept[-1] == events[-1]


async def test_an_unavailable_destination_gets_the_same_event_again_with_backoff(
    store: Store, fake_time: FakeTime, wall: WallClock
) -> None:
    add_batch(store, 1)
    failures = iter(
        [SinkUnavailableError("HTTP 503")] * 4 + [SinkUnavailableError("429", retry_after=30)]
    )

    def script(item: SinkEvent) -> BaseException | None:
        return next(failures, None)

    sink = RecordingSink(script=script)
    runner = _runner(store, sink, fake_time=fake_time)
    assert await runner.drain() is True
    event = store.events_after(0, 1)[0]
    assert sink.attempts == [event.id] * 6
    assert sink.ids == [event.id]
    # Full jitter under a doubling ceiling (1, 2, 4, 8 s), then at least the Retry-After.
    assert len(fake_time.sleeps) == 5
    for attempt, wait in enumerate(fake_time.sleeps[:4]):
        assert 0 <= wait <= 2**attempt
    assert fake_time.sleeps[4] >= 30
    state = store.sink_cursor("recording")
    assert (state.cursor, state.delivered, state.skipped) == (event.id, 1, 0)
    assert state.last_error == f"event {event.id}: 429"


def test_backoff_is_capped_and_honours_retry_after() -> None:
    policy = Backoff(base=1, cap=60, max_retry_after=120)
    rng = random.Random(1)
    waits = [policy.delay(attempt, rng=rng) for attempt in range(200)]
    assert max(waits) <= 60
    assert max(waits[10:]) > 30  # the ceiling does reach the cap
    assert policy.delay(0, retry_after=45, rng=rng) >= 45
    assert policy.delay(0, retry_after=10_000, rng=rng) == 120


async def test_a_refused_event_is_recorded_skipped_and_passed(
    store: Store, fake_time: FakeTime
) -> None:
    add_batch(store, 2)
    events = store.events_after(0, 10)

    def script(item: SinkEvent) -> BaseException | None:
        if item.event.id == events[0].id:
            return SinkRejectedError("HTTP 422: unknown property")
        return None

    sink = RecordingSink(script=script)
    assert await _runner(store, sink, fake_time=fake_time).drain()
    assert sink.ids == [events[1].id]
    state = store.sink_cursor("recording")
    assert (state.cursor, state.delivered, state.skipped) == (events[1].id, 1, 1)
    assert state.last_error == f"event {events[0].id} refused: HTTP 422: unknown property"
    assert fake_time.sleeps == []


async def test_a_disabled_sink_stops_and_stays_stopped_until_enabled(
    store: Store, fake_time: FakeTime
) -> None:
    add_batch(store, 2)
    gone = True

    def script(item: SinkEvent) -> BaseException | None:
        return SinkDisabledError("HTTP 410 Gone") if gone else None

    sink = RecordingSink(script=script)
    runner = _runner(store, sink, fake_time=fake_time)
    assert await runner.drain() is False
    assert len(sink.attempts) == 1
    state = store.sink_cursor("recording")
    assert state.disabled
    assert state.cursor == 0
    assert "410" in (state.disabled_reason or "")
    gone = False
    assert await runner.drain() is False  # still disabled: not even tried
    assert len(sink.attempts) == 1
    store.enable_sink("recording")
    assert await runner.drain() is True
    assert sink.ids == [event.id for event in store.events_after(0, 10)]


async def test_one_sink_down_never_holds_back_another(store: Store, fake_time: FakeTime) -> None:
    first, _ = add_batch(store, 2)
    run_to_done(store, first, "video_1")
    down = RecordingSink("down", script=lambda item: SinkUnavailableError("HTTP 503"))
    healthy = RecordingSink("healthy")
    runner = _runner(store, down, healthy, fake_time=fake_time)
    assert await runner.drain(deadline=fake_time.clock() + 120) is False
    events = store.events_after(0, 1000)
    assert healthy.ids == [e.id for e in events]
    assert down.delivered == []
    assert set(down.attempts) == {events[0].id}
    statuses = {status.name: status for status in sink_status(store, ["down", "healthy"])}
    assert statuses["healthy"].lag_events == 0
    assert statuses["down"].lag_events == len(events)
    assert statuses["down"].last_error == f"event {events[0].id}: HTTP 503"


async def test_a_sink_bug_is_retried_not_lost(store: Store, fake_time: FakeTime) -> None:
    add_batch(store, 1)
    calls = iter([KeyError("oops")])
    sink = RecordingSink(script=lambda item: next(calls, None))
    assert await _runner(store, sink, fake_time=fake_time).drain()
    assert len(sink.attempts) == 2
    assert len(sink.delivered) == 1
    assert "KeyError" in (store.sink_cursor("recording").last_error or "")


async def test_a_restarted_process_continues_from_the_cursor(
    db_path: Path, store: Store, fake_time: FakeTime, wall: WallClock
) -> None:
    first, second = add_batch(store, 2)
    run_to_done(store, first, "video_1")
    run_to_done(store, second, "video_2")
    events = store.events_after(0, 1000)
    stop_at = events[len(events) // 2].id

    class Crash(BaseException):
        """Stands for the process dying in the middle of a delivery."""

    def script(item: SinkEvent) -> BaseException | None:
        return Crash() if item.event.id == stop_at else None

    before = RecordingSink(script=script)
    with pytest.raises(Crash):
        await _runner(store, before, fake_time=fake_time).drain()
    store.close()
    with Store(store.url, now=wall) as reopened:
        assert reopened.sink_cursor("recording").cursor < stop_at
        after = RecordingSink()
        assert await _runner(reopened, after, fake_time=fake_time).drain()
        everything = before.ids + after.ids
        assert everything == [e.id for e in events]
        assert after.ids[0] == stop_at
        assert reopened.sink_cursor("recording").delivered == len(events)


async def test_run_forever_follows_new_events_until_stopped(
    store: Store, fake_time: FakeTime
) -> None:
    (job,) = add_batch(store, 1)
    sink = RecordingSink()
    runner = SinkRunner(store, [sink])
    task = asyncio.create_task(runner.run_forever(poll_interval=0.01))
    try:
        async with asyncio.timeout(10):
            await sink.wait_until(lambda got: len(got) >= 1)
            await asyncio.to_thread(store.transition, job, JobState.WAITING)
            await sink.wait_until(lambda got: got[-1].event.state is JobState.WAITING)
    finally:
        runner.stop()
        async with asyncio.timeout(10):
            await task
    assert sink.ids == [e.id for e in store.events_after(0, 100)]


async def test_the_deadline_ends_a_drain_with_events_left(
    store: Store, fake_time: FakeTime
) -> None:
    add_batch(store, 1)
    sink = RecordingSink(script=lambda item: SinkUnavailableError("down"))
    runner = _runner(store, sink, fake_time=fake_time)
    start = fake_time.clock()
    assert await runner.drain(deadline=start + 30) is False
    assert fake_time.clock() <= start + 30
    assert store.sink_cursor("recording").cursor == 0


def test_two_sinks_with_one_name_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="share a name"):
        SinkRunner(store, [RecordingSink("a"), RecordingSink("a")])


async def test_aclose_closes_every_sink(store: Store) -> None:
    sinks = [RecordingSink("a"), RecordingSink("b")]
    await SinkRunner(store, sinks).aclose()
    assert all(sink.closed for sink in sinks)


def test_status_reports_lag_in_events_and_seconds(store: Store, wall: WallClock) -> None:
    add_batch(store, 2)
    events = store.events_after(0, 10)
    store.advance_sink("a", events[0].id, delivered=1)
    (status,) = sink_status(store, ["a"], now=lambda: wall() + 42)
    assert (status.cursor, status.head, status.lag_events) == (events[0].id, events[-1].id, 1)
    assert status.lag_seconds == pytest.approx(42)
    assert status.to_dict()["lag_events"] == 1
    (fresh,) = sink_status(store, ["never-ran"], now=wall)
    assert (fresh.cursor, fresh.lag_events, fresh.delivered) == (0, 2, 0)
    assert [s.name for s in sink_status(store)] == ["a"]


async def test_a_final_drain_after_stopping_delivers_what_came_last(store: Store) -> None:
    (job,) = add_batch(store, 1)
    sink = RecordingSink()
    runner = SinkRunner(store, [sink])
    task = asyncio.create_task(runner.run_forever(poll_interval=3600))
    async with asyncio.timeout(10):
        await sink.wait_until(lambda got: len(got) == 1)
        store.transition(job, JobState.WAITING)  # the poll is an hour away
        runner.stop()
        await task
        assert await runner.drain() is True
    assert sink.ids == [e.id for e in store.events_after(0, 100)]


async def test_drain_beside_run_forever_never_delivers_twice(store: Store) -> None:
    first, second = add_batch(store, 2)
    run_to_done(store, first, "video_1")
    run_to_done(store, second, "video_2")
    sink = RecordingSink()
    runner = SinkRunner(store, [sink])
    task = asyncio.create_task(runner.run_forever(poll_interval=0.01))
    try:
        async with asyncio.timeout(10):
            assert await runner.drain() is True
    finally:
        runner.stop()
        async with asyncio.timeout(10):
            await task
    assert sink.ids == [e.id for e in store.events_after(0, 100)]


async def test_run_forever_resumes_a_sink_once_it_is_enabled(store: Store) -> None:
    add_batch(store, 2)
    store.disable_sink("recording", "HTTP 410 Gone")
    sink = RecordingSink()
    runner = SinkRunner(store, [sink])
    task = asyncio.create_task(runner.run_forever(poll_interval=0.01))
    try:
        async with asyncio.timeout(10):
            await asyncio.sleep(0.1)
            assert sink.attempts == []
            await asyncio.to_thread(store.enable_sink, "recording")
            await sink.wait_until(lambda got: len(got) == 2)
    finally:
        runner.stop()
        async with asyncio.timeout(10):
            await task
    assert sink.ids == [e.id for e in store.events_after(0, 100)]
