"""``GET /metrics``: jobs by state and in flight per account read from the store at scrape time,
provider requests and latency counted through the request observers (a real adapter against
the simulator), webhook deliveries, sink lag; several applications in one process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reelforge import JobSpec, JobState
from reelforge.core.errors import NotFoundError
from reelforge.providers import OpenAIVideosProvider
from reelforge.serve import ServeState, build_app
from reelforge.serve.metrics import WEBHOOKS_RECEIVED, WEBHOOKS_REJECTED
from reelforge.sim import EmbeddedSimulator, SimConfig
from reelforge.store import NewJob, Store

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.for_path(tmp_path / "db.sqlite")
    store.migrate()
    yield store
    store.close()


async def _scrape(store: Store) -> Samples:
    app = build_app(ServeState(store=store, db_url=store.url))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://127.0.0.1"
    ) as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _record(store: Store) -> list[str]:
    """A batch of four jobs on two accounts: one waiting, one submitting, two pending."""
    store.upsert_batch("b", name="b", out_dir="out")
    jobs = [
        NewJob(key=f"k{n}", spec=JobSpec(prompt=f"clip {n}"), position=n, account=account)
        for n, account in enumerate(("acct-a", "acct-a", "acct-b", "acct-b"))
    ]
    store.add_jobs("b", jobs)
    ids = [job.id for job in store.jobs("b")]
    store.transition(ids[0], JobState.WAITING, expect={JobState.PENDING})
    store.transition(ids[1], JobState.WAITING, expect={JobState.PENDING})
    store.record_intent(ids[1])
    return ids


async def test_jobs_by_state_and_in_flight_per_account_come_from_the_store(store: Store) -> None:
    _record(store)
    samples = await _scrape(store)
    jobs = {
        state.value: _value(samples, "reelforge_jobs", state=state.value, provider="openai")
        for state in JobState
    }
    assert jobs["pending"] == 2
    assert jobs["waiting"] == 1
    assert jobs["submitting"] == 1
    assert jobs["done"] == 0
    assert ("reelforge_jobs", (("provider", "openai"), ("state", "done"))) in samples
    flying = "reelforge_jobs_in_flight"
    assert _value(samples, flying, account="acct-a", provider="openai") == 1
    assert ("reelforge_jobs_in_flight", (("account", "acct-b"), ("provider", "openai"))) in samples
    assert _value(samples, flying, account="acct-b", provider="openai") == 0


async def test_sink_lag_is_the_newest_event_minus_each_sinks_cursor(store: Store) -> None:
    _record(store)
    head = store.events_after(0, limit=1000)[-1].id
    assert head >= 5
    store.advance_sink("jsonl", 2, delivered=2)
    store.advance_sink("notion", head, delivered=head)
    samples = await _scrape(store)
    assert _value(samples, "reelforge_outbox_head") == head
    assert _value(samples, "reelforge_sink_lag_events", sink="jsonl") == head - 2
    assert _value(samples, "reelforge_sink_lag_events", sink="notion") == 0


async def test_webhook_deliveries_are_counted_by_scheme_and_reason(store: Store) -> None:
    before = await _scrape(store)
    WEBHOOKS_RECEIVED.labels("fal").inc()
    WEBHOOKS_REJECTED.labels("fal", "signature").inc(2)
    after = await _scrape(store)
    name = "reelforge_webhook_deliveries_received_total"
    assert _value(after, name, scheme="fal") == _value(before, name, scheme="fal") + 1
    name = "reelforge_webhook_deliveries_rejected_total"
    labels = {"scheme": "fal", "reason": "signature"}
    assert _value(after, name, **labels) == _value(before, name, **labels) + 2


async def test_provider_requests_and_latency_by_provider_operation_and_status(
    store: Store,
) -> None:
    before = await _scrape(store)  # building an app subscribes the counters
    with EmbeddedSimulator(SimConfig()) as sim:
        async with httpx.AsyncClient() as client:
            provider = OpenAIVideosProvider(client, base_url=sim.base_url, api_key="sk-test")
            created = await provider.submit(JobSpec(prompt="A red kite"))
            await provider.fetch(created.remote_id)
            with pytest.raises(NotFoundError):
                await provider.fetch("video_missing")
    after = await _scrape(store)
    requests = "reelforge_provider_requests_total"

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew(requests, provider="openai", operation="create", status="200") == 1
    assert grew(requests, provider="openai", operation="fetch", status="200") == 1
    assert grew(requests, provider="openai", operation="fetch", status="404") >= 1
    latency = "reelforge_provider_request_seconds_count"
    assert grew(latency, provider="openai", operation="fetch") >= 2
    total = "reelforge_provider_request_seconds_sum"
    spent = grew(total, provider="openai", operation="create")
    assert 0 < spent < 30


async def test_several_applications_in_one_process_each_scrape_their_own_store(
    tmp_path: Path, store: Store
) -> None:
    _record(store)
    other = Store.for_path(tmp_path / "other.sqlite")
    other.migrate()
    try:
        mine, theirs = await _scrape(store), await _scrape(other)
    finally:
        other.close()
    assert _value(mine, "reelforge_jobs", state="pending", provider="openai") == 2
    assert _value(theirs, "reelforge_jobs", state="pending", provider="openai") == 0
    assert _value(theirs, "reelforge_outbox_head") == 0
