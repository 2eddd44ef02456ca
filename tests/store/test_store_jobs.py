from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from store_helpers import FakeClock, new_jobs

from reelforge.core.errors import ErrorCategory, InvalidSpecError
from reelforge.core.models import JobSpec, JobState
from reelforge.core.naming import is_safe_component
from reelforge.store import (
    BatchNotFoundError,
    BatchState,
    EventKind,
    JobNotFoundError,
    NewJob,
    Store,
    job_id,
)


def test_upsert_batch_creates_then_updates_settings_only(store: Store, clock: FakeClock) -> None:
    created = store.upsert_batch("spring", name="Spring", out_dir="out", budget_usd=Decimal("5"))
    assert created.state is BatchState.OPEN
    assert created.budget_usd == Decimal("5.0000")
    store.set_batch_state("spring", BatchState.FINISHED)
    clock.advance(60)
    updated = store.upsert_batch("spring", name="Spring II", out_dir="out2", rpm=30)
    assert updated.name == "Spring II"
    assert updated.out_dir == "out2"
    assert updated.rpm == 30
    assert updated.budget_usd is None
    assert updated.state is BatchState.FINISHED
    assert updated.created_at == created.created_at
    assert updated.updated_at == created.updated_at + 60
    assert [b.id for b in store.batches()] == ["spring"]


@pytest.mark.parametrize("bad", ["../up", "a/b", "", ".hidden", "x" * 200])
def test_batch_ids_must_be_safe_names(store: Store, bad: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        store.upsert_batch(bad, name="x", out_dir="out")
    assert info.value.field == "batch_id"


def test_add_jobs_is_idempotent(store: Store) -> None:
    store.upsert_batch("spring", name="Spring", out_dir="out")
    assert store.add_jobs("spring", new_jobs(3)) == 3
    before = store.jobs("spring")
    events = store.events_after(0, 1000)
    assert store.add_jobs("spring", new_jobs(3)) == 0
    assert store.jobs("spring") == before
    assert store.events_after(0, 1000) == events


def test_add_jobs_adds_only_new_keys_and_never_changes_existing_ones(store: Store) -> None:
    store.upsert_batch("spring", name="Spring", out_dir="out")
    store.add_jobs("spring", new_jobs(2))
    original = store.get_job(job_id("spring", "job-0"))
    edited = [
        NewJob(key="job-0", spec=JobSpec(prompt="something else entirely"), position=0),
        *new_jobs(4)[1:],
    ]
    assert store.add_jobs("spring", edited) == 2
    assert store.get_job(original.id) == original
    assert [j.key for j in store.jobs("spring")] == ["job-0", "job-1", "job-2", "job-3"]


def test_a_new_job_is_pending_with_its_spec_fingerprint_and_a_creation_event(
    store: Store, batch: str, job: str
) -> None:
    row = store.get_job(job)
    assert row.state is JobState.PENDING
    assert row.spec == new_jobs(1)[0].spec
    assert (row.provider, row.model, row.seconds, row.size) == ("openai", "sora-2", 4, "720x1280")
    assert row.labels == {"brand": "acme"}
    assert row.account == "openai-test"
    assert row.attempt == 0
    assert row.remote_id is None
    assert row.estimated_cost == Decimal("0.4000")
    assert len(row.fingerprint) == 64
    assert is_safe_component(row.id)
    (created,) = store.history(job)
    assert (created.kind, created.state, created.data["key"]) == (
        EventKind.STATE,
        JobState.PENDING,
        "job-0",
    )


def test_duplicate_keys_in_one_call_are_refused(store: Store) -> None:
    store.upsert_batch("spring", name="Spring", out_dir="out")
    with pytest.raises(InvalidSpecError):
        store.add_jobs("spring", [*new_jobs(2), *new_jobs(1)])
    assert store.jobs("spring") == []


def test_adding_jobs_to_a_missing_batch_fails(store: Store) -> None:
    with pytest.raises(BatchNotFoundError):
        store.add_jobs("nope", new_jobs(1))


def test_missing_jobs_raise(store: Store) -> None:
    with pytest.raises(JobNotFoundError):
        store.get_job("nope")
    with pytest.raises(JobNotFoundError):
        store.transition("nope", JobState.WAITING)
    assert store.find_by_remote_id("video_x") is None


def test_job_ids_are_deterministic_unique_per_batch_and_safe() -> None:
    assert job_id("spring", "hero/../../etc") == job_id("spring", "hero/../../etc")
    assert job_id("spring", "a") != job_id("autumn", "a")
    assert job_id("spring", "a b") != job_id("spring", "a-b")
    for key in ["hero/../../etc", "", "é" * 300, "CON"]:
        assert is_safe_component(job_id("spring", key))


def test_jobs_filter_by_batch_and_state_in_file_order(store: Store, batch: str) -> None:
    store.upsert_batch("autumn", name="Autumn", out_dir="out")
    store.add_jobs("autumn", list(reversed(new_jobs(2))))
    store.transition(job_id(batch, "job-1"), JobState.WAITING)
    assert [j.key for j in store.jobs("autumn")] == ["job-0", "job-1"]
    assert [j.key for j in store.jobs(batch, states=[JobState.WAITING])] == ["job-1"]
    assert len(store.jobs(states=[JobState.PENDING])) == 4
    assert len(store.jobs()) == 5


def test_batch_summary_counts_every_state(store: Store, batch: str) -> None:
    store.transition(job_id(batch, "job-0"), JobState.REJECTED, error="banned word")
    summary = store.batch_summary(batch)
    assert summary.total == 3
    assert summary.counts[JobState.PENDING] == 2
    assert summary.counts[JobState.REJECTED] == 1
    assert summary.counts[JobState.DONE] == 0
    assert summary.estimated == Decimal("1.2000")
    assert summary.budget_usd == Decimal("10.0000")


def test_a_job_compliance_rejected_is_added_already_rejected(store: Store) -> None:
    store.upsert_batch("camp", name="Campaign", out_dir="out")
    accepted, blocked = new_jobs(2)
    blocked = replace(blocked, rejected="error: claims.cures: claims to cure ('cures' at 12)")

    assert store.add_jobs("camp", [accepted, blocked]) == 2
    # Run again: nothing new, nothing changed.
    assert store.add_jobs("camp", [accepted, blocked]) == 0

    rows = {job.key: job for job in store.jobs("camp")}
    assert rows["job-0"].state is JobState.PENDING
    rejected = rows["job-1"]
    assert rejected.state is JobState.REJECTED
    assert rejected.category is ErrorCategory.COMPLIANCE
    assert rejected.error == blocked.rejected
    history = store.history(rejected.id)
    assert [event.state for event in history if event.kind is EventKind.STATE] == [
        JobState.PENDING,
        JobState.REJECTED,
    ]
    summary = store.batch_summary("camp")
    assert summary.reserved == 0
    assert rejected.actual_cost == Decimal(0)
