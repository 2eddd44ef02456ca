"""The statuses verified webhooks carried, on both backends: kept with their delivery (SQL
NULL when a delivery carried none), read for the job's own remote id and scheme only, oldest
first, and read no more once applied; a replay adds nothing."""

from __future__ import annotations

from store_helpers import FakeClock

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import RemoteError, RemoteState, RemoteStatus
from reelforge.store import Store, job_id
from reelforge.store import webhooks as deliveries
from reelforge.store.schema import webhook_deliveries

REMOTE = "pred-0001"


def _record(store: Store, delivery_id: str, status: RemoteStatus | None, **kw: object) -> bool:
    return deliveries.record_delivery(
        store,
        scheme=str(kw.get("scheme", "replicate")),
        delivery_id=delivery_id,
        job_id=kw.get("job_id", "job-x"),  # type: ignore[arg-type]
        message="replicate webhook",
        status=status,
    )


def _pushed(store: Store, scheme: str = "replicate", job_id: str = "job-x") -> list[str]:
    found = deliveries.pushed_statuses(store, job_id=job_id, remote_id=REMOTE, scheme=scheme)
    return [p.delivery_id for p in found]


def test_pushed_statuses_round_trip_and_are_read_until_applied(
    store: Store, clock: FakeClock, batch: str, job: str
) -> None:
    other = job_id(batch, "job-1")
    failed = RemoteStatus(
        remote_id=REMOTE,
        state=RemoteState.FAILED,
        provider_status="failed",
        created_at=10.0,
        completed_at=70.5,
        error=RemoteError(category=ErrorCategory.CONTENT_POLICY, message="flagged", code="E005"),
    )
    running = RemoteStatus(remote_id=REMOTE, state=RemoteState.IN_PROGRESS, progress=40)
    assert _record(store, "msg-1", running, job_id=job)
    clock.advance(1.0)
    assert _record(store, "msg-2", failed, job_id=job)
    assert not _record(store, "msg-2", failed, job_id=job)  # a replay adds nothing
    assert _record(store, "msg-3", None, job_id=job)  # a wake only: no status kept
    assert _record(store, "msg-4", running, job_id=None)  # before the job held the id
    assert _record(store, "msg-5", running, job_id=other)
    assert _record(store, "msg-6", running, job_id=job, scheme="fal")

    found = deliveries.pushed_statuses(store, job_id=job, remote_id=REMOTE, scheme="replicate")

    assert [p.delivery_id for p in found] == ["msg-1", "msg-2", "msg-4"]
    assert found[1].status == failed
    assert found[0].status == running
    assert _pushed(store, "fal", job) == ["msg-6"]
    assert deliveries.pushed_statuses(store, job_id=job, remote_id="other", scheme="fal") == []
    with store.engine.connect() as conn:
        row = (
            conn.execute(
                webhook_deliveries.select().where(webhook_deliveries.c.delivery_id == "msg-3")
            )
            .mappings()
            .one()
        )
    assert (row["status"], row["remote_id"]) == (None, None)

    deliveries.mark_applied(store, found)

    assert _pushed(store, "replicate", job) == []
    assert _pushed(store, "replicate", other) == ["msg-5"]


def test_an_unreadable_kept_status_is_passed_over() -> None:
    assert deliveries.status_from_json({"state": "exploded"}, REMOTE) is None
    assert deliveries.status_from_json("completed", REMOTE) is None
    kept = deliveries.status_to_json(RemoteStatus(remote_id=REMOTE, state=RemoteState.COMPLETED))
    assert deliveries.status_from_json(kept, REMOTE) == RemoteStatus(
        remote_id=REMOTE, state=RemoteState.COMPLETED
    )
