"""The store's sink bookkeeping: cursors that only move forward, counters, errors, pages."""

from __future__ import annotations

import pytest
from sink_helpers import WallClock, add_batch, run_to_done

from reelforge.store import Store, StoreError


def test_a_sink_without_a_row_starts_at_zero(store: Store) -> None:
    state = store.sink_cursor("webhook:abc")
    assert (state.cursor, state.delivered, state.skipped, state.disabled) == (0, 0, 0, False)
    assert state.updated_at is None
    assert store.sink_cursors() == []


def test_the_cursor_never_moves_back_but_counters_add(store: Store, wall: WallClock) -> None:
    assert store.advance_sink("s", 7, delivered=1).cursor == 7
    wall.advance(5)
    moved = store.advance_sink("s", 3, delivered=1)
    assert moved.cursor == 7
    assert moved.delivered == 2
    assert moved.updated_at == wall()
    assert store.advance_sink("s", 9, skipped=1, error="event 9 refused: 422").cursor == 9
    state = store.sink_cursor("s")
    assert (state.cursor, state.delivered, state.skipped) == (9, 2, 1)
    assert state.last_error == "event 9 refused: 422"
    assert state.last_error_at == wall()


def test_errors_disable_and_enable(store: Store, wall: WallClock) -> None:
    store.record_sink_error("s", "HTTP 503")
    state = store.sink_cursor("s")
    assert (state.cursor, state.last_error, state.last_error_at) == (0, "HTTP 503", wall())
    store.disable_sink("s", "HTTP 410 Gone")
    assert store.sink_cursor("s").disabled
    assert store.sink_cursor("s").disabled_reason == "HTTP 410 Gone"
    assert store.enable_sink("s") is True
    assert store.enable_sink("s") is False
    assert not store.sink_cursor("s").disabled
    assert [row.name for row in store.sink_cursors()] == ["s"]
    assert [row.name for row in store.sink_cursors(["t", "s"])] == ["t", "s"]


def test_a_long_error_is_clipped(store: Store) -> None:
    store.record_sink_error("s", "x" * 10_000)
    error = store.sink_cursor("s").last_error
    assert error is not None
    assert len(error) == 2000


def test_external_ids_per_sink_and_job(store: Store) -> None:
    first, second = add_batch(store, 2)
    assert store.external_id("notion", first) is None
    store.record_external_id("notion", first, "page-1")
    store.record_external_id("notion", first, "page-1b")
    store.record_external_id("other", first, "x")
    assert store.external_id("notion", first) == "page-1b"
    assert store.external_id("other", first) == "x"
    assert store.external_id("notion", second) is None


def test_an_external_id_needs_a_real_job(store: Store) -> None:
    with pytest.raises(StoreError):
        store.record_external_id("notion", "no-such-job", "page")


def test_backlog_counts_events_after_a_cursor(store: Store, wall: WallClock) -> None:
    assert store.outbox_backlog(0).head == 0
    job, _ = add_batch(store, 2)
    wall.advance(10)
    run_to_done(store, job, "video_1")
    events = store.events_after(0, 1000)
    head = events[-1].id
    backlog = store.outbox_backlog(0)
    assert (backlog.events, backlog.head, backlog.oldest_at) == (len(events), head, events[0].at)
    later = store.outbox_backlog(events[1].id)
    assert later.events == len(events) - 2
    assert later.oldest_at == events[2].at
    assert store.outbox_backlog(head).events == 0
    assert store.outbox_backlog(head).oldest_at is None
