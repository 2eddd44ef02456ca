"""The cost ledger: reservations against the batch budget, settlement, reports."""

from __future__ import annotations

from decimal import Decimal

import pytest
from store_helpers import new_jobs, submitted

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState, Variant
from reelforge.store import EventKind, Store, job_id

D = Decimal


def test_reserve_within_the_batch_budget(store: Store) -> None:
    store.upsert_batch("b", name="B", out_dir="out", budget_usd=D("1.00"))
    store.add_jobs("b", new_jobs(3))
    ids = [job_id("b", f"job-{i}") for i in range(3)]
    assert store.reserve(ids[0], D("0.40"))
    assert store.reserve(ids[1], D("0.40"))
    assert not store.reserve(ids[2], D("0.40"))  # 1.20 > 1.00
    assert store.reserve(ids[2], D("0.20"))  # exactly at the cap
    assert store.batch_summary("b").reserved == D("1.00")


def test_reserve_is_idempotent_per_job(store: Store, job: str) -> None:
    assert store.reserve(job, D("4"))
    events = store.events_after(0, 1000)
    assert store.reserve(job, D("4"))
    assert store.reserve(job, D("9"))  # the first reservation stands
    assert store.events_after(0, 1000) == events
    assert store.batch_summary("spring").reserved == D("4")


def test_an_explicit_budget_overrides_the_batchs(store: Store, job: str) -> None:
    assert not store.reserve(job, D("2"), budget=D("1"))
    assert store.reserve(job, D("20"), budget=D("25"))


def test_no_budget_means_no_cap(store: Store) -> None:
    store.upsert_batch("free", name="Free", out_dir="out")
    store.add_jobs("free", new_jobs(1))
    assert store.reserve(job_id("free", "job-0"), D("1000000"))


def test_settle_replaces_the_reservation_with_the_actual_cost(store: Store, batch: str) -> None:
    first, second = job_id(batch, "job-0"), job_id(batch, "job-1")
    assert store.reserve(first, D("6"))
    assert not store.reserve(second, D("6"))
    assert store.settle(first, D("3.5"))
    assert not store.settle(first, D("3.5"))  # idempotent
    assert store.get_job(first).actual_cost == D("3.5")
    summary = store.batch_summary(batch)
    assert (summary.reserved, summary.actual) == (D(0), D("3.5"))
    assert store.reserve(second, D("6"))  # 3.5 spent + 6 held <= 10
    assert not store.reserve(job_id(batch, "job-2"), D("0.6"))


def test_release_frees_the_reservation_and_costs_nothing(store: Store, batch: str) -> None:
    first = job_id(batch, "job-0")
    assert store.reserve(first, D("10"))
    assert not store.reserve(job_id(batch, "job-1"), D("1"))
    assert store.release(first)
    assert store.get_job(first).actual_cost == D(0)
    assert store.reserve(job_id(batch, "job-1"), D("10"))
    cost_events = [e for e in store.history(first) if e.kind is EventKind.COST]
    assert [e.data.get("released") for e in cost_events] == [None, True]


def test_a_retried_job_reserves_again(store: Store, job: str) -> None:
    submitted(store, job)
    assert store.reserve(job, D("4"))
    store.transition(job, JobState.FAILED, category=ErrorCategory.GENERATION_FAILED)
    # Failing released the reservation in the same transaction; releasing again is a no-op.
    assert store.batch_summary("spring").reserved == D(0)
    assert not store.release(job)
    store.retry(job)
    assert store.batch_summary("spring").reserved == D(0)
    assert store.reserve(job, D("4"))
    assert store.batch_summary("spring").reserved == D("4")
    assert store.settle(job, D("4"))
    assert store.get_job(job).actual_cost == D("4")


def test_amounts_are_exact_to_four_places(store: Store, batch: str) -> None:
    for i in range(3):
        store.settle(job_id(batch, f"job-{i}"), D("0.1"))
    assert store.batch_summary(batch).actual == D("0.3")
    assert store.batch_summary(batch).actual.as_tuple().exponent == -4
    with pytest.raises(ValueError, match="negative"):
        store.reserve(job_id(batch, "job-0"), D("-1"))


def test_cost_report_groups_by_batch_model_and_brand(store: Store) -> None:
    store.upsert_batch("spring", name="Spring", out_dir="out")
    store.upsert_batch("autumn", name="Autumn", out_dir="out")
    store.add_jobs("spring", new_jobs(2, brand="acme", model="sora-2", cost="0.40"))
    store.add_jobs("autumn", new_jobs(3, brand="zenith", model="sora-2-pro", cost="1.20"))
    store.settle(job_id("spring", "job-0"), D("0.40"))
    store.settle(job_id("autumn", "job-0"), D("1.20"))
    store.release(job_id("autumn", "job-1"))

    by_brand = store.cost_report(by="brand")
    assert [(line.group, line.jobs, line.estimated, line.actual) for line in by_brand] == [
        ("acme", 2, D("0.80"), D("0.40")),
        ("zenith", 3, D("3.60"), D("1.20")),
    ]
    by_model = store.cost_report(by="model")
    assert [(line.group, line.jobs) for line in by_model] == [("sora-2", 2), ("sora-2-pro", 3)]
    by_batch = store.cost_report(by="batch")
    assert [(line.group, line.actual) for line in by_batch] == [
        ("autumn", D("1.20")),
        ("spring", D("0.40")),
    ]
    (total,) = store.cost_report()
    assert (total.group, total.jobs, total.estimated, total.actual) == (
        "all",
        5,
        D("4.40"),
        D("1.60"),
    )
    (only,) = store.cost_report("spring", by="brand")
    assert (only.group, only.jobs) == ("acme", 2)


def test_jobs_without_a_brand_are_grouped_together(store: Store) -> None:
    store.upsert_batch("b", name="B", out_dir="out")
    store.add_jobs("b", new_jobs(1, brand=""))
    assert [line.group for line in store.cost_report(by="brand")] == ["(none)"]


def test_assets_are_recorded_once_per_variant(store: Store, job: str) -> None:
    assert store.record_asset(job, Variant.VIDEO, "out/spring/job/video.mp4", 1234, "a" * 64)
    assert not store.record_asset(job, Variant.VIDEO, "out/spring/job/video.mp4", 1234, "a" * 64)
    assert store.record_asset(job, Variant.THUMBNAIL, "out/spring/job/thumbnail.webp", 10, "b" * 64)
    # A re-download replaces the row (and is an event of its own).
    assert store.record_asset(
        job, Variant.VIDEO, "out/spring/job/video.mp4", 5_000_000_000, "c" * 64
    )
    recorded = {a.variant: a for a in store.assets(job)}
    assert set(recorded) == {Variant.VIDEO, Variant.THUMBNAIL}
    assert (recorded[Variant.VIDEO].bytes, recorded[Variant.VIDEO].sha256) == (
        5_000_000_000,
        "c" * 64,
    )
    assert sum(e.kind is EventKind.ASSET for e in store.history(job)) == 3
