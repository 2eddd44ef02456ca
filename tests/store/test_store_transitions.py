from __future__ import annotations

import pytest
from store_helpers import FakeClock, submitted

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState
from reelforge.store import (
    EDGES,
    TERMINAL,
    EventKind,
    IllegalTransitionError,
    Store,
    StoreError,
    can_transition,
)

S = JobState


def _walk(store: Store, job: str, *states: JobState) -> None:
    for state in states:
        assert store.transition(job, state)


def test_the_happy_path_appends_one_event_per_transition(
    store: Store, job: str, clock: FakeClock
) -> None:
    clock.advance(1)
    submitted(store, job)
    path = [S.IN_PROGRESS, S.COMPLETED, S.DOWNLOADING, S.DONE]
    for state in path:
        clock.advance(1)
        assert store.transition(job, state)
    history = store.history(job)
    states = [S.PENDING, S.WAITING, S.SUBMITTING, S.QUEUED, *path]
    assert [e.state for e in history] == states
    assert [e.kind for e in history[2:4]] == [EventKind.INTENT, EventKind.REMOTE_ID]
    assert [e.data.get("from") for e in history[1:]] == [s.value for s in states[:-1]]
    assert [e.at for e in history] == sorted(e.at for e in history)
    row = store.get_job(job)
    assert row.state is S.DONE
    assert row.version == 1 + 3 + len(path)
    assert row.completed_at is not None


def test_expect_guards_the_transition(store: Store, job: str) -> None:
    assert not store.transition(job, S.WAITING, expect=[S.SUBMITTING])
    assert store.get_job(job).state is S.PENDING
    assert store.transition(job, S.WAITING, expect=[S.PENDING])
    # A step run twice: the second attempt sees the state already moved on.
    assert not store.transition(job, S.WAITING, expect=[S.PENDING])
    assert len(store.history(job)) == 2


def test_moving_to_the_current_state_changes_nothing(store: Store, job: str) -> None:
    before = store.get_job(job)
    assert not store.transition(job, S.PENDING)
    assert store.get_job(job) == before


@pytest.mark.parametrize(
    ("submit", "path", "illegal"),
    [
        (False, [], S.QUEUED),
        (False, [], S.DONE),
        (False, [S.WAITING], S.COMPLETED),
        (True, [], S.WAITING),
        (True, [S.COMPLETED], S.DONE),
        (True, [S.CANCELED], S.QUEUED),
    ],
)
def test_illegal_edges_raise_and_change_nothing(
    store: Store, job: str, submit: bool, path: list[JobState], illegal: JobState
) -> None:
    if submit:
        submitted(store, job)
    _walk(store, job, *path)
    current = store.get_job(job).state
    before, events = store.get_job(job), store.history(job)
    with pytest.raises(IllegalTransitionError) as info:
        store.transition(job, illegal)
    assert (info.value.current, info.value.to) == (current, illegal)
    assert info.value.category is ErrorCategory.INVALID_REQUEST
    assert store.get_job(job) == before
    assert store.history(job) == events


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_are_never_left(store: Store, job: str, terminal: JobState) -> None:
    if terminal is S.DONE:
        submitted(store, job)
        _walk(store, job, S.COMPLETED, S.DOWNLOADING, S.DONE)
    else:
        _walk(store, job, terminal)
    for state in S:
        if state is not terminal:
            with pytest.raises(IllegalTransitionError):
                store.transition(job, state)
    with pytest.raises(IllegalTransitionError):
        store.retry(job)


def test_the_edge_table_matches_the_life_cycle() -> None:
    assert set(EDGES) == set(JobState)
    for state in TERMINAL:
        assert EDGES[state] == frozenset()
    assert EDGES[S.FAILED] == frozenset()  # only through an explicit retry
    assert not can_transition(S.FAILED, S.WAITING)
    assert all(state not in EDGES[state] for state in JobState)
    # Every state is reachable from pending.
    seen, frontier = {S.PENDING}, [S.PENDING]
    while frontier:
        for nxt in EDGES[frontier.pop()] - seen:
            seen.add(nxt)
            frontier.append(nxt)
    assert seen == set(JobState)


def test_failed_goes_back_to_waiting_only_through_retry(store: Store, job: str) -> None:
    submitted(store, job)
    assert store.transition(
        job, S.FAILED, category=ErrorCategory.GENERATION_FAILED, error="the model gave up"
    )
    failed = store.get_job(job)
    assert (failed.category, failed.error) == (ErrorCategory.GENERATION_FAILED, "the model gave up")
    with pytest.raises(IllegalTransitionError):
        store.transition(job, S.WAITING)
    assert store.retry(job)
    assert not store.retry(job)
    row = store.get_job(job)
    assert (row.state, row.remote_id, row.intent_token, row.category, row.error) == (
        S.WAITING,
        None,
        None,
        None,
        None,
    )
    assert row.attempt == 1
    last = store.history(job)[-1]
    assert last.data["retry"] is True
    assert last.data["previous_remote_id"] == "video_1"
    # The next attempt gets a new intent and may record a new remote id.
    second = store.record_intent(job)
    assert store.record_remote_id(job, second, "video_2")
    assert store.get_job(job).attempt == 2


def test_transition_sets_the_given_fields(store: Store, job: str) -> None:
    submitted(store, job)
    assert store.transition(job, S.IN_PROGRESS, progress=140, expires_at=123.0)
    row = store.get_job(job)
    assert (row.progress, row.expires_at) == (100, 123.0)
    event = store.history(job)[-1]
    assert (event.kind, event.progress, event.data["expires_at"]) == (EventKind.STATE, 100, 123.0)


def test_unknown_fields_are_refused(store: Store, job: str) -> None:
    with pytest.raises(TypeError, match="remote_id"):
        store.transition(job, S.WAITING, remote_id="video_1")  # type: ignore[call-arg]
    assert store.get_job(job).state is S.PENDING


def test_a_failing_transition_leaves_neither_change_nor_event(store: Store, job: str) -> None:
    # The event cannot be written (its data is not JSON): the state change rolls back with it.
    before, events = store.get_job(job), store.events_after(0, 1000)
    with pytest.raises(StoreError):
        store.transition(job, S.WAITING, data={"unserializable": object()})
    assert store.get_job(job) == before
    assert store.events_after(0, 1000) == events


def test_record_progress_appends_only_on_change(store: Store, job: str) -> None:
    submitted(store, job)
    start = len(store.history(job))
    assert not store.record_progress(job, S.QUEUED, 0)
    assert store.record_progress(job, S.IN_PROGRESS, 5)
    assert not store.record_progress(job, S.IN_PROGRESS, 5)
    assert store.record_progress(job, S.IN_PROGRESS, 40)
    assert store.record_progress(job, S.COMPLETED, 100)
    kinds = [(e.kind, e.state, e.progress) for e in store.history(job)[start:]]
    assert kinds == [
        (EventKind.STATE, S.IN_PROGRESS, 5),
        (EventKind.PROGRESS, S.IN_PROGRESS, 40),
        (EventKind.STATE, S.COMPLETED, 100),
    ]
    with pytest.raises(IllegalTransitionError):
        store.record_progress(job, S.IN_PROGRESS, 100)


def test_events_after_reads_with_a_cursor(store: Store, batch: str, job: str) -> None:
    store.transition(job, S.WAITING)
    store.record_intent(job)
    first = store.events_after(0, limit=2)
    assert [e.id for e in first] == sorted(e.id for e in first)
    rest = store.events_after(first[-1].id, limit=100)
    everything = store.events_after(0, limit=100)
    assert first + rest == everything
    assert len(everything) == 3 + 2  # three creations, two transitions
    assert store.events_after(everything[-1].id) == []
    assert {e.batch_id for e in everything} == {batch}


@pytest.mark.parametrize(
    ("setup", "to", "door"),
    [
        ([S.WAITING], S.SUBMITTING, "record_intent"),
        ([S.WAITING, "intent"], S.QUEUED, "record_remote_id"),
        ([S.WAITING, "intent"], S.COMPLETED, "record_remote_id"),
        ([S.WAITING, "intent"], S.WAITING, "clear_intent"),
        ([S.WAITING, "intent", S.NEEDS_REVIEW], S.IN_PROGRESS, "record_remote_id"),
    ],
)
def test_fenced_edges_refuse_the_plain_door(
    store: Store, job: str, setup: list[JobState | str], to: JobState, door: str
) -> None:
    for step in setup:
        if step == "intent":
            store.record_intent(job)
        else:
            assert store.transition(job, JobState(step))
    with pytest.raises(IllegalTransitionError, match=door):
        store.transition(job, to)
    with pytest.raises(IllegalTransitionError, match=door):
        store.record_progress(job, to, 0)


def test_notes_join_the_history_without_changing_the_job(store: Store, job: str) -> None:
    before = store.get_job(job)
    store.record_note(job, "prompt mentions a trademark", {"rule": "brand"})
    assert store.get_job(job) == before
    note = store.history(job)[-1]
    assert (note.kind, note.state, dict(note.data)) == (
        EventKind.NOTE,
        S.PENDING,
        {"rule": "brand", "message": "prompt mentions a trademark"},
    )
