"""End to end over real HTTP: the runner posts to a loopback receiver that verifies every
signature with ``verify_webhook`` and deduplicates by ``webhook-id``."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sink_helpers import WallClock, add_batch, run_to_done
from webhook_receiver import Receiver, events_by_job

from reelforge.sinks import (
    Backoff,
    JsonlSink,
    SinkRunner,
    WebhookSink,
    coalesce_progress,
    sink_status,
)
from reelforge.store import EventKind, Store

pytestmark = pytest.mark.slow

SECRET = "whsec_" + base64.b64encode(b"receiver-secret-32-bytes-long!!!").decode()
FAST = Backoff(base=0.01, cap=0.05)


def _expected_ids(store: Store) -> list[int]:
    # What a single drain delivers: every event, progress ticks coalesced per chunk of 100.
    events = store.events_after(0, 100)
    return [event.id for event in coalesce_progress(events)]


async def _drain(runner: SinkRunner, seconds: float = 30) -> bool:
    return await runner.drain(deadline=time.monotonic() + seconds)


async def test_a_down_endpoint_catches_up_with_every_event_once_and_in_order(
    store: Store,
) -> None:
    first, second = add_batch(store, 2)
    run_to_done(store, first, "video_1", ticks=(25, 50, 75))
    run_to_done(store, second, "video_2", ticks=(30,))
    expected = _expected_ids(store)
    assert any(e.kind is EventKind.PROGRESS for e in store.events_after(0, 100))
    with Receiver(SECRET, answers=[503, 503, 500, 429]) as receiver:
        async with httpx.AsyncClient() as client:
            sink = WebhookSink(receiver.url, SECRET, client=client)
            runner = SinkRunner(store, [sink], backoff=FAST)
            assert await _drain(runner) is True
        got = receiver.snapshot()
    assert got.invalid == []
    assert got.duplicates == []
    assert [doc["data"]["event_id"] for doc in got.accepted] == expected
    # The first event was refused four times, and every retry carried the same id.
    assert got.attempts[:5] == [got.accepted_ids[0]] * 5
    for _job, ids in events_by_job(got.accepted):
        assert ids == sorted(ids)
    done = got.accepted[-1]
    assert done["type"] == "job.state_changed"
    assert done["data"]["state"] == "done"
    assert done["data"]["labels"] == {"brand": "acme", "market": "fr"}
    assert done["data"]["assets"][0]["path"].endswith("video.mp4")
    assert done["data"]["cost"]["actual"].startswith("0.4")
    (status,) = sink_status(store, [sink.name])
    assert (status.lag_events, status.delivered, status.skipped) == (0, len(expected), 0)
    assert status.last_error is not None
    assert "429" in status.last_error


async def test_410_disables_the_webhook_while_another_sink_keeps_going(
    store: Store, tmp_path: Path
) -> None:
    (job,) = add_batch(store, 1)
    run_to_done(store, job, "video_1")
    with Receiver(SECRET) as receiver:
        receiver.gone = True
        async with httpx.AsyncClient() as client:
            hook = WebhookSink(receiver.url, SECRET, client=client)
            log = JsonlSink(tmp_path / "events.jsonl")
            runner = SinkRunner(store, [hook, log], backoff=FAST)
            assert await _drain(runner) is False
            assert len(receiver.snapshot().attempts) == 1
            # Disabled means not called again, even once the endpoint would answer.
            receiver.gone = False
            assert await _drain(runner) is False
        got = receiver.snapshot()
    assert len(got.attempts) == 1
    assert got.accepted == []
    statuses = {s.name: s for s in sink_status(store, [hook.name, log.name])}
    assert statuses[hook.name].disabled
    assert "410" in (statuses[hook.name].disabled_reason or "")
    assert statuses[log.name].lag_events == 0
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(lines) == len(_expected_ids(store))


async def test_a_restarted_process_resumes_and_a_replay_is_deduplicated(
    db_path: Path, store: Store, wall: WallClock
) -> None:
    first, second = add_batch(store, 2)
    run_to_done(store, first, "video_1")
    run_to_done(store, second, "video_2")
    expected = _expected_ids(store)
    with Receiver(SECRET) as receiver:
        # The first process gets part way, then the endpoint goes down and the process stops.
        half = len(expected) // 2
        receiver.accept_limit = half
        async with httpx.AsyncClient() as client:
            sink = WebhookSink(receiver.url, SECRET, client=client)
            runner = SinkRunner(store, [sink], backoff=FAST, batch=3)
            assert await _drain(runner, seconds=1.0) is False
        store.close()
        receiver.accept_limit = None
        assert len(receiver.snapshot().accepted) == half

        # A new process on the same file continues from the durable cursor.
        with Store(store.url, now=wall) as reopened:
            assert reopened.sink_cursor(sink.name).cursor == expected[half - 1]
            async with httpx.AsyncClient() as client:
                again = WebhookSink(receiver.url, SECRET, client=client)
                assert again.name == sink.name
                assert await _drain(SinkRunner(reopened, [again], backoff=FAST)) is True
            got = receiver.snapshot()
            assert [doc["data"]["event_id"] for doc in got.accepted] == expected
            assert got.duplicates == []

            # A crash between the POST and the cursor's commit: the events go out again,
            # with the same webhook-ids, and the receiver drops them as duplicates.
            with reopened.engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM sink_cursors"))
            async with httpx.AsyncClient() as client:
                replay = WebhookSink(receiver.url, SECRET, client=client)
                assert await _drain(SinkRunner(reopened, [replay], backoff=FAST)) is True
            got = receiver.snapshot()
    assert sorted(got.duplicates) == sorted(got.accepted_ids)
    assert len(got.accepted) == len(expected)
    assert got.invalid == []


async def test_forged_requests_never_reach_the_receiver_s_log(store: Store) -> None:
    with Receiver(SECRET) as receiver:
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                receiver.url,
                content=b'{"type":"job.state_changed","data":{}}',
                headers={
                    "webhook-id": "evt_1",
                    "webhook-timestamp": str(int(time.time())),
                    "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode(),
                },
            )
            other_secret = "whsec_" + base64.b64encode(b"another-secret-32-bytes-long!!!!").decode()
            add_batch(store, 1)
            wrong = WebhookSink(receiver.url, other_secret, client=client)
            assert await SinkRunner(store, [wrong], backoff=FAST).drain() is True
        got = receiver.snapshot()
    assert forged.status_code == 400
    assert got.invalid == ["signature", "signature"]
    assert got.accepted == []
    # A 400 is a refusal: the event is recorded as skipped, never retried forever.
    (status,) = sink_status(store, [wrong.name])
    assert (status.skipped, status.delivered) == (1, 0)
