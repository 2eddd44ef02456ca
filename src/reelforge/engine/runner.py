"""The :class:`Engine`: opens the database, launches DBOS, enqueues jobs and watches them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
from dbos import DBOS, SetEnqueueOptions, SetWorkflowID

from reelforge.batch import Batch
from reelforge.core.clock import Clock, SystemClock
from reelforge.core.errors import ConfigError, ErrorCategory
from reelforge.core.models import JobState
from reelforge.core.polling import PollPolicy
from reelforge.core.pricing import PriceTable, default_prices
from reelforge.engine import context
from reelforge.engine.crash import crash_transport
from reelforge.engine.outcome import FINAL
from reelforge.engine.reconcile import ReconcilePolicy
from reelforge.engine.workflow import (
    DOWNLOAD_QUEUE,
    WAKE_TOPIC,
    download_id,
    download_workflow,
    job_workflow,
)
from reelforge.providers import OpenAIVideosProvider
from reelforge.store import BatchSummary, JobRow, NewJob, Store, account_id

__all__ = ["QUEUE_NAME", "Engine"]

QUEUE_NAME = "reelforge-submit"
_RUNNING = ("PENDING", "ENQUEUED")
_MAX_RESTARTS = 3
_DOWNLOADS_AT_ONCE = 8
_UNSENT = frozenset({JobState.PENDING, JobState.WAITING})
"""Jobs whose create has not been attempted: compliance can still stop them."""
_STARTED = frozenset(JobState) - FINAL - _UNSENT
"""Jobs whose workflow has started: a queued workflow of a waiting job is merely waiting."""
_DOWNLOADING = frozenset({JobState.COMPLETED, JobState.DOWNLOADING})

log = logging.getLogger("reelforge.engine")


class Engine:
    """Runs batches as durable workflows on DBOS, against one provider account.

    ::

        async with Engine(db_url=url, base_url=base_url, api_key=key) as engine:
            batch_id = await engine.submit(batch, out=Path("out"))
            summary = await engine.wait(batch_id)

    Only one engine may run per process (DBOS is a process-wide runtime).
    """

    def __init__(
        self,
        *,
        db_url: str,
        base_url: str,
        api_key: str | None,
        provider: str = "openai",
        max_in_flight: int = 4,
        rpm: int | None = None,
        poll: PollPolicy | None = None,
        reconcile: ReconcilePolicy | None = None,
        prices: PriceTable | None = None,
        clock: Clock | None = None,
        http_timeout: httpx.Timeout | None = None,
        queue_poll_interval: float = 0.1,
    ) -> None:
        if max_in_flight < 1:
            raise ConfigError("max_in_flight must be at least 1")
        if rpm is not None and rpm < 1:
            raise ConfigError("rpm must be at least 1")
        self.db_url = db_url
        self.base_url = base_url.rstrip("/")
        self.provider_name = provider
        self.account = account_id(provider, self.base_url, api_key)
        self.max_in_flight = max_in_flight
        self.rpm = rpm
        self.poll = poll or PollPolicy()
        self.reconcile_policy = reconcile or ReconcilePolicy()
        self.prices = prices or default_prices()
        self.clock = clock or SystemClock()
        self._api_key = api_key
        self._http_timeout = http_timeout or httpx.Timeout(60.0, connect=10.0)
        self._queue_poll_interval = queue_poll_interval
        self._store: Store | None = None
        self._client: httpx.AsyncClient | None = None
        self._restarts: dict[str, int] = {}

    @property
    def store(self) -> Store:
        """The store (only inside ``async with``)."""
        if self._store is None:
            raise RuntimeError("use Engine inside 'async with'")
        return self._store

    async def __aenter__(self) -> Self:
        store = Store(self.db_url, now=self.clock.now)
        await asyncio.to_thread(store.migrate)
        self._store = store
        self._client = httpx.AsyncClient(
            transport=crash_transport(httpx.AsyncHTTPTransport()), timeout=self._http_timeout
        )
        provider = OpenAIVideosProvider(
            self._client, base_url=self.base_url, api_key=self._api_key, clock=self.clock
        )
        context.install(
            context.EngineContext(
                store=store,
                providers={self.account: provider},
                clock=self.clock,
                poll=self.poll,
                reconcile=self.reconcile_policy,
                prices=self.prices,
            )
        )
        DBOS(
            config={
                "name": "reelforge",
                "system_database_url": self.db_url,
                "log_level": "WARNING",
            }
        )
        DBOS.launch()
        limiter = {"limit": self.rpm, "period": 60.0} if self.rpm else None
        await DBOS.register_queue_async(
            QUEUE_NAME,
            partition_concurrency=self.max_in_flight,
            partition_limiter=limiter,  # type: ignore[arg-type]  # DBOS's TypedDict
            polling_interval_sec=self._queue_poll_interval,
            on_conflict="always_update",
        )
        await DBOS.register_queue_async(
            DOWNLOAD_QUEUE,
            worker_concurrency=_DOWNLOADS_AT_ONCE,
            polling_interval_sec=self._queue_poll_interval,
            on_conflict="always_update",
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            DBOS.destroy(destroy_registry=False)
        # DBOS lent this loop its thread pool and has just shut it down: give the loop a
        # fresh one, so the caller (or a next engine) can still use asyncio.to_thread.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
        context.uninstall()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- batches ------------------------------------------------------------------------------

    async def submit(
        self,
        batch: Batch,
        *,
        out: Path,
        budget: Decimal | None = None,
        rejected: Mapping[str, str] | None = None,
    ) -> str:
        """Record the batch and its jobs (idempotently) and enqueue every unfinished job.

        Running the same batch again continues it: jobs already recorded keep their state,
        and a job that was ever created on the provider is never created again.

        ``rejected`` maps job keys to the reasons compliance blocked them: a new job is added
        already ``rejected`` (category ``compliance``), and one recorded by an earlier run
        that has not been sent yet (``pending`` or ``waiting``) is rejected now, before
        anything is enqueued. A job already sent is left as it is.
        """
        store = self.store
        await asyncio.to_thread(
            store.upsert_batch,
            batch.name,
            name=batch.name,
            out_dir=str(out),
            source=str(batch.source) if batch.source else None,
            budget_usd=budget,
            max_in_flight=self.max_in_flight,
            rpm=self.rpm,
        )
        new = [
            NewJob(
                key=job.key,
                spec=job.spec,
                position=job.index,
                account=self.account,
                estimated_cost=self.prices.estimate(job.spec),
                rejected=(rejected or {}).get(job.key),
            )
            for job in batch.jobs
        ]
        await asyncio.to_thread(store.add_jobs, batch.name, new)
        if rejected:
            await asyncio.to_thread(self._reject, batch.name, rejected)
        await self.resume(batch.name)
        return batch.name

    def _reject(self, batch_id: str, rejected: Mapping[str, str]) -> None:
        for job in self.store.jobs(batch_id):
            reason = rejected.get(job.key)
            if reason is not None and job.state in _UNSENT:
                self.store.transition(
                    job.id,
                    JobState.REJECTED,
                    expect=_UNSENT,
                    category=ErrorCategory.COMPLIANCE,
                    error=reason,
                )

    async def resume(self, batch_id: str) -> int:
        """Make sure every unfinished job of the batch has a live workflow; return how many."""
        count = 0
        for job in self.store.jobs(batch_id):
            if job.state in FINAL:
                continue
            await self._ensure_workflow(job)
            count += 1
        return count

    async def start(self, job_id: str) -> None:
        """Make sure one job has a live workflow (after a review settled it, for instance)."""
        await self._ensure_workflow(self.store.get_job(job_id))

    async def _ensure_workflow(self, job: JobRow) -> None:
        base, downloading = _workflow_base(job)
        workflow_id, n = base, 1
        while True:
            status = await DBOS.get_workflow_status_async(workflow_id)
            if status is None:
                break
            if status.status in _RUNNING:
                return
            n += 1
            workflow_id = f"{base}~{n}"
        if downloading:
            queue = await DBOS.retrieve_queue_async(DOWNLOAD_QUEUE)
            assert queue is not None
            with SetWorkflowID(workflow_id):
                await queue.enqueue_async(download_workflow, job.id)
            return
        queue = await DBOS.retrieve_queue_async(QUEUE_NAME)
        assert queue is not None
        priority = min(job.position + 1, 2**31 - 1)
        with (
            SetWorkflowID(workflow_id),
            SetEnqueueOptions(queue_partition_key=job.account, priority=priority),
        ):
            await queue.enqueue_async(job_workflow, job.id)

    async def wait(
        self,
        batch_id: str,
        *,
        on_update: Callable[[BatchSummary], None] | None = None,
        interval: float = 0.25,
    ) -> BatchSummary:
        """Wait until every job of the batch has ended; return the final summary."""
        checks = 0
        while True:
            summary = self.store.batch_summary(batch_id)
            if on_update is not None:
                on_update(summary)
            active = summary.total - sum(summary.counts[state] for state in FINAL)
            if active == 0:
                return summary
            checks += 1
            if checks % max(1, int(5 / interval)) == 0:
                await self._restart_dead_workflows(batch_id)
            await asyncio.sleep(interval)

    async def _restart_dead_workflows(self, batch_id: str) -> None:
        """A workflow that ended in error leaves its job unfinished: start it again, a few times."""
        for job in self.store.jobs(batch_id, states=_STARTED):
            latest = await self._latest_workflow(_workflow_base(job)[0])
            if latest is not None and latest[1] in _RUNNING:
                continue
            if latest is None and job.state in _DOWNLOADING:
                # The job workflow may be about to start the download: give it a moment.
                owner = await self._latest_workflow(job.id)
                if owner is not None and owner[1] in _RUNNING:
                    continue
            restarts = self._restarts.get(job.id, 0)
            if restarts >= _MAX_RESTARTS:
                continue
            self._restarts[job.id] = restarts + 1
            log.warning("job %s: its workflow ended %s; starting it again", job.id, latest)
            await self._ensure_workflow(job)

    async def _latest_workflow(self, base: str) -> tuple[str, str] | None:
        found: tuple[str, str] | None = None
        workflow_id, n = base, 1
        while (status := await DBOS.get_workflow_status_async(workflow_id)) is not None:
            found = (workflow_id, status.status)
            n += 1
            workflow_id = f"{base}~{n}"
        return found

    async def poke(self, job_id: str) -> bool:
        """Wake the job's waiting workflow so it checks the provider now."""
        latest = await self._latest_workflow(job_id)
        if latest is None or latest[1] not in _RUNNING:
            return False
        await DBOS.send_async(latest[0], "poke", topic=WAKE_TOPIC)
        return True

    async def cancel(self, job_id: str) -> JobState:
        """Cancel a job: locally always, and on the provider where it was created."""
        store = self.store
        job = store.get_job(job_id)
        latest = await self._latest_workflow(job_id)
        if latest is not None and latest[1] in _RUNNING:
            await DBOS.cancel_workflow_async(latest[0])
        job = store.get_job(job_id)
        if job.state in FINAL:
            return job.state
        store.transition(job_id, JobState.CANCELED, error="canceled by the user")
        return JobState.CANCELED

    async def retry(self, batch_id: str, *, failed_only: bool = True) -> int:
        """Send failed (and, unless ``failed_only``, needs-review) jobs back to the queue."""
        states = {JobState.FAILED} if failed_only else {JobState.FAILED, JobState.NEEDS_REVIEW}
        count = 0
        for job in self.store.jobs(batch_id, states=states):
            if self.store.retry(job.id):
                count += 1
        await self.resume(batch_id)
        return count


def _workflow_base(job: JobRow) -> tuple[str, bool]:
    """The id a job's next workflow starts from, and whether it is a download workflow."""
    if job.state in _DOWNLOADING:
        return download_id(job.id, job.attempt), True
    return job.id, False
