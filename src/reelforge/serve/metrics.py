"""Prometheus metrics of the served process (``GET /metrics``).

Two kinds, combined in one registry per application (:func:`registry`), so several
applications in one process never register a collector twice:

- **process-wide counters** (:data:`WEBHOOKS_RECEIVED`, :data:`WEBHOOKS_REJECTED`,
  :data:`PROVIDER_REQUESTS`, :data:`PROVIDER_LATENCY`), incremented where the thing happens.
  Provider requests are counted through the providers' request observers
  (:mod:`reelforge.providers._observe`), subscribed once by :func:`watch_provider_requests`;
- **the store's state, read at scrape time** (:class:`StoreCollector`): jobs by state and
  provider, jobs in flight per account, and each sink's lag behind the outbox.

============================================================  ============================
``reelforge_jobs{state,provider}``                             gauge
``reelforge_jobs_in_flight{account,provider}``                 gauge (submitting, queued,
                                                               in progress)
``reelforge_provider_requests_total{provider,operation,status}``  counter
``reelforge_provider_request_seconds{provider,operation}``     histogram
``reelforge_webhook_deliveries_received_total{scheme}``        counter
``reelforge_webhook_deliveries_rejected_total{scheme,reason}`` counter
``reelforge_sink_lag_events{sink}``                            gauge (newest event id minus
                                                               the sink's cursor)
``reelforge_outbox_head``                                      gauge (newest event id)
============================================================  ============================
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reelforge.core.models import JobState
from reelforge.providers._observe import RequestSeen, observe_requests
from reelforge.serve.state import ServeState
from reelforge.store import Store

__all__ = [
    "IN_FLIGHT",
    "PROVIDER_LATENCY",
    "PROVIDER_REQUESTS",
    "WEBHOOKS_RECEIVED",
    "WEBHOOKS_REJECTED",
    "StoreCollector",
    "registry",
    "routes",
    "watch_provider_requests",
]

WEBHOOKS_RECEIVED = Counter(
    "reelforge_webhook_deliveries_received",
    "Webhook deliveries accepted (signature and timestamp verified), by scheme.",
    ["scheme"],
)
WEBHOOKS_REJECTED = Counter(
    "reelforge_webhook_deliveries_rejected",
    "Webhook deliveries refused, by scheme and reason.",
    ["scheme", "reason"],
)
PROVIDER_REQUESTS = Counter(
    "reelforge_provider_requests",
    "Requests sent to providers (each attempt), by provider, operation and answer status "
    "(the HTTP status code, or 'error' when no answer came).",
    ["provider", "operation", "status"],
)
PROVIDER_LATENCY = Histogram(
    "reelforge_provider_request_seconds",
    "Seconds from sending a request to a provider to its answer's headers.",
    ["provider", "operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
_PROCESS_WIDE: tuple[Collector, ...] = (
    WEBHOOKS_RECEIVED,
    WEBHOOKS_REJECTED,
    PROVIDER_REQUESTS,
    PROVIDER_LATENCY,
)

IN_FLIGHT = frozenset({JobState.SUBMITTING, JobState.QUEUED, JobState.IN_PROGRESS})
"""The states of a job the provider may be generating (it holds its account's slot)."""


def _record(seen: RequestSeen) -> None:
    PROVIDER_REQUESTS.labels(seen.provider, seen.operation, seen.status).inc()
    PROVIDER_LATENCY.labels(seen.provider, seen.operation).observe(seen.seconds)


def watch_provider_requests() -> None:
    """Count every provider request of this process from now on (idempotent)."""
    observe_requests(_record)


class StoreCollector(Collector):
    """The store's state at scrape time: jobs by state, in flight per account, sink lag."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def describe(self) -> Iterable[Metric]:
        return []  # collected afresh at every scrape; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        jobs = self._store.jobs()
        by_state = GaugeMetricFamily(
            "reelforge_jobs", "Jobs recorded, by state and provider.", labels=["state", "provider"]
        )
        tally = Tally((job.state, job.provider) for job in jobs)
        providers = sorted({job.provider for job in jobs})
        for state in JobState:
            for provider in providers:
                by_state.add_metric([state.value, provider], tally[(state, provider)])
        yield by_state
        in_flight = GaugeMetricFamily(
            "reelforge_jobs_in_flight",
            "Jobs the provider may be generating (submitting, queued, in progress), by account.",
            labels=["account", "provider"],
        )
        flying = Tally((job.account, job.provider) for job in jobs if job.state in IN_FLIGHT)
        for account, provider in sorted({(job.account, job.provider) for job in jobs}):
            in_flight.add_metric([account, provider], flying[(account, provider)])
        yield in_flight
        head = self._store.outbox_backlog(0).head
        yield GaugeMetricFamily(
            "reelforge_outbox_head", "The id of the newest job event in the outbox.", value=head
        )
        lag = GaugeMetricFamily(
            "reelforge_sink_lag_events",
            "Events a sink has yet to deliver: the newest event's id minus the sink's cursor.",
            labels=["sink"],
        )
        for cursor in self._store.sink_cursors():
            lag.add_metric([cursor.name], max(head - cursor.cursor, 0))
        yield lag


def registry(state: ServeState) -> CollectorRegistry:
    """A registry of its own for one application: the process-wide counters and a
    :class:`StoreCollector` on its store."""
    own = CollectorRegistry(auto_describe=False)
    for collector in _PROCESS_WIDE:
        own.register(collector)
    own.register(StoreCollector(state.store))
    return own


def routes(state: ServeState) -> list[BaseRoute]:
    """``GET /metrics`` in Prometheus's text format."""
    own = registry(state)
    watch_provider_requests()

    async def metrics(request: Request) -> Response:
        body = await asyncio.to_thread(generate_latest, own)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
