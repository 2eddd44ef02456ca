"""A review verdict given in the dashboard is an outbox event like any other: the JSONL log and
the webhooks get it as ``job.reviewed``, and every later event carries the job's latest review."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sink_helpers import FakeTime, add_batch, run_to_done

from reelforge.core.models import JobState
from reelforge.sinks import JsonlSink, SinkRunner
from reelforge.store import EventKind, ReviewVerdict, Store


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_a_review_reaches_the_log_as_job_reviewed(
    store: Store, tmp_path: Path, fake_time: FakeTime
) -> None:
    (job,) = add_batch(store, 1)
    run_to_done(store, job, "video_1")
    review = store.record_review(job, ReviewVerdict.REJECTED, "logo too small <b>here</b>")
    path = tmp_path / "events.jsonl"
    assert await SinkRunner(store, [JsonlSink(path)], sleep=fake_time.sleep).drain()

    last = _lines(path)[-1]
    assert last["type"] == "job.reviewed"
    data = last["data"]
    assert isinstance(data, dict)
    assert data["event_id"] == review.event_id
    assert data["kind"] == "review"
    assert data["job_state"] == "done"
    assert data["details"] == {"verdict": "rejected", "note": "logo too small <b>here</b>"}
    assert data["review"]["verdict"] == "rejected"
    assert data["review"]["note"] == "logo too small <b>here</b>"
    # Events before the review carry the review as it is at delivery (a snapshot, like the job).
    assert all(line["data"]["review"] is not None for line in _lines(path))  # type: ignore[index]


async def test_the_latest_review_is_the_one_that_counts(store: Store) -> None:
    (job,) = add_batch(store, 1)
    run_to_done(store, job, "video_1")
    assert store.latest_review(job) is None
    assert store.reviews("spring") == {}

    store.record_review(job, ReviewVerdict.REJECTED, "too dark")
    second = store.record_review(job, ReviewVerdict.APPROVED)

    assert store.latest_review(job) == second
    assert store.reviews("spring") == {job: second}
    assert second.note == ""
    kinds = [e.kind for e in store.history(job)]
    assert kinds.count(EventKind.REVIEW) == 2
    assert store.get_job(job).state is JobState.DONE  # a review moves nothing


def test_a_verdict_is_approved_or_rejected(store: Store) -> None:
    (job,) = add_batch(store, 1)
    with pytest.raises(ValueError, match="maybe"):
        store.record_review(job, "maybe")  # type: ignore[arg-type]
