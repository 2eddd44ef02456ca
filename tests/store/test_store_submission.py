"""Exactly-once submission support (DESIGN section 5): intents and fenced remote ids."""

from __future__ import annotations

import pytest
from store_helpers import FakeClock, submitted

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState
from reelforge.store import (
    EventKind,
    IllegalTransitionError,
    RemoteIdConflictError,
    Store,
    job_id,
)

S = JobState


def test_record_intent_commits_submitting_with_a_fresh_token(
    store: Store, job: str, clock: FakeClock
) -> None:
    store.transition(job, S.WAITING)
    token = store.record_intent(job)
    row = store.get_job(job)
    assert (row.state, row.attempt, row.intent_token, row.intent_at) == (
        S.SUBMITTING,
        1,
        token,
        clock.value,
    )
    assert len(token) == 32
    event = store.history(job)[-1]
    assert (event.kind, event.state, event.data["attempt"]) == (EventKind.INTENT, S.SUBMITTING, 1)
    assert event.data["fingerprint"] == row.fingerprint
    assert token not in str(event.data)


def test_an_intent_is_recorded_only_from_waiting(store: Store, job: str) -> None:
    with pytest.raises(IllegalTransitionError):
        store.record_intent(job)
    store.transition(job, S.WAITING)
    store.record_intent(job)
    # A second intent while the first request may be out would allow a second payment.
    with pytest.raises(IllegalTransitionError):
        store.record_intent(job)
    assert store.get_job(job).attempt == 1


def test_record_remote_id_applies_once_and_repeats_idempotently(
    store: Store, job: str, clock: FakeClock
) -> None:
    store.transition(job, S.WAITING)
    token = store.record_intent(job)
    clock.advance(2)
    assert store.record_remote_id(
        job, token, "video_1", state=S.IN_PROGRESS, progress=3, expires_at=99.0
    )
    events = store.history(job)
    # The same step run again (DBOS steps run at least once): True, nothing new written.
    assert store.record_remote_id(job, token, "video_1", state=S.IN_PROGRESS, progress=3)
    assert store.history(job) == events
    row = store.get_job(job)
    assert (row.remote_id, row.state, row.progress, row.submitted_at, row.expires_at) == (
        "video_1",
        S.IN_PROGRESS,
        3,
        clock.value,
        99.0,
    )
    assert events[-1].kind is EventKind.REMOTE_ID
    assert events[-1].data["remote_id"] == "video_1"
    assert store.find_by_remote_id("video_1") == row


def test_a_second_remote_id_cannot_replace_the_first(store: Store, job: str) -> None:
    token = submitted(store, job, "video_1")
    before = store.get_job(job)
    assert not store.record_remote_id(job, token, "video_2")
    assert store.get_job(job) == before
    assert store.find_by_remote_id("video_2") is None


def test_a_stale_token_cannot_overwrite(store: Store, job: str) -> None:
    store.transition(job, S.WAITING)
    stale = store.record_intent(job)
    # The first attempt provably created nothing; a second attempt gets a new token.
    assert store.clear_intent(job, stale)
    fresh = store.record_intent(job)
    assert fresh != stale
    assert not store.record_remote_id(job, stale, "video_old")
    assert store.get_job(job).remote_id is None
    assert store.record_remote_id(job, fresh, "video_new")
    assert not store.record_remote_id(job, stale, "video_old")
    assert not store.record_remote_id(job, stale, "video_new")
    assert store.get_job(job).remote_id == "video_new"
    assert store.get_job(job).attempt == 2


def test_a_token_from_before_a_retry_is_stale(store: Store, job: str) -> None:
    old = submitted(store, job, "video_1")
    store.transition(job, S.FAILED, category=ErrorCategory.GENERATION_FAILED)
    store.retry(job)
    assert not store.record_remote_id(job, old, "video_1")
    assert store.get_job(job).remote_id is None


def test_a_remote_id_belongs_to_one_job(store: Store, batch: str) -> None:
    first, second = job_id(batch, "job-0"), job_id(batch, "job-1")
    submitted(store, first, "video_1")
    store.transition(second, S.WAITING)
    token = store.record_intent(second)
    with pytest.raises(RemoteIdConflictError) as info:
        store.record_remote_id(second, token, "video_1")
    assert info.value.owner == first
    assert store.get_job(second).remote_id is None
    assert store.record_remote_id(second, token, "video_2")


def test_clear_intent_is_fenced(store: Store, job: str) -> None:
    token = submitted(store, job)
    assert not store.clear_intent(job, token)  # a remote id exists: the job was created
    assert store.get_job(job).state is S.QUEUED


def test_clear_intent_to_failed_records_why(store: Store, job: str) -> None:
    store.transition(job, S.WAITING)
    token = store.record_intent(job)
    assert not store.clear_intent(job, "not-the-token", to=S.FAILED)
    assert store.clear_intent(
        job, token, to=S.FAILED, category=ErrorCategory.CONTENT_POLICY, error="refused"
    )
    row = store.get_job(job)
    assert (row.state, row.category, row.error, row.intent_token) == (
        S.FAILED,
        ErrorCategory.CONTENT_POLICY,
        "refused",
        None,
    )
    with pytest.raises(ValueError, match="waiting or failed"):
        store.clear_intent(job, token, to=S.DONE)


def test_reconciliation_adopts_a_match_from_needs_review(store: Store, job: str) -> None:
    store.transition(job, S.WAITING)
    token = store.record_intent(job)
    # The create request timed out: ambiguous. The intent (and its token) stays.
    assert store.transition(job, S.NEEDS_REVIEW, error="create timed out")
    assert store.get_job(job).intent_token == token
    assert store.record_remote_id(job, token, "video_found", state=S.COMPLETED, progress=100)
    row = store.get_job(job)
    assert (row.state, row.remote_id, row.completed_at is not None) == (
        S.COMPLETED,
        "video_found",
        True,
    )


def test_remote_id_into_an_illegal_state_raises(store: Store, job: str) -> None:
    store.transition(job, S.WAITING)
    token = store.record_intent(job)
    with pytest.raises(IllegalTransitionError):
        store.record_remote_id(job, token, "video_1", state=S.DONE)
    assert store.get_job(job).remote_id is None
