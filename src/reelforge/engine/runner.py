"""The :class:`Engine`: opens the database, launches DBOS, enqueues jobs and watches them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

import httpx
from dbos import DBOS, Queue, SetEnqueueOptions, SetWorkflowID
from dbos._core import prepare_enqueued_workflow
from dbos._dbos import _get_dbos_instance as _dbos_instance
from dbos._error import DBOSException
from sqlalchemy.exc import SQLAlchemyError

from reelforge.batch import Batch
from reelforge.core.clock import Clock, SystemClock
from reelforge.core.errors import ConfigError, ErrorCategory
from reelforge.core.models import JobSpec, JobState
from reelforge.core.polling import PollPolicy
from reelforge.core.pricing import PriceTable, default_prices
from reelforge.engine import context
from reelforge.engine.crash import crash_transport
from reelforge.engine.evidence import adopt_from_out
from reelforge.engine.outcome import FINAL
from reelforge.engine.reconcile import ReconcilePolicy
from reelforge.engine.workflow import WAKE_TOPIC, download_workflow, job_workflow
from reelforge.engine.workflow_ids import (
    LEGACY_QUEUES,
    download_id,
    download_queue,
    is_download,
    job_of,
    numbered,
    submit_queue,
)
from reelforge.providers.base import PushesCompletions
from reelforge.providers.registry import Providers
from reelforge.store import (
    BatchSummary,
    ExecutorRow,
    JobRow,
    NewJob,
    Store,
    StoreError,
    lease_owner,
)
from reelforge.store import job_id as make_job_id

__all__ = [
    "EXECUTOR_TTL",
    "BatchSlices",
    "Engine",
    "SlicedJob",
    "ensure_not_running",
]

_RUNNING = ("PENDING", "ENQUEUED")
_MAX_RESTARTS = 3
_DOWNLOADS_AT_ONCE = 8
_DOWNLOAD_QUEUE_POLL = 1.0
"""Seconds between looks at the download queue (see :meth:`Engine.__aenter__`)."""
_WAKE_CHECK_INTERVAL = 0.25
"""Seconds between DBOS's looks for messages to waiting workflows (one indexed query per
waiting workflow, which holds an in-flight slot, so a few at a time)."""
_ENQUEUE_CHUNK = 1000
"""Workflows a submit enqueues per transaction (and looks up per query)."""
_RECORD_SLICE = 5000
"""New jobs a submit records per transaction."""
_UNSENT = frozenset({JobState.PENDING, JobState.WAITING})
"""Jobs whose create has not been attempted: compliance can still stop them."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SlicedJob:
    """One job of a :class:`BatchSlices`: its key, spec, place in the batch, and the reasons
    compliance rejected it (``None``: it may be sent)."""

    key: str
    spec: JobSpec
    position: int
    rejected: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchSlices:
    """A batch too large to hold, for :meth:`Engine.submit`: its jobs come a slice at a time
    (keys unique across the whole batch, positions increasing)."""

    name: str
    slices: Iterable[Sequence[SlicedJob]]
    source: Path | None = None


_STARTED = frozenset(JobState) - FINAL - _UNSENT
"""Jobs whose workflow has started: a queued workflow of a waiting job is merely waiting."""
_DOWNLOADING = frozenset({JobState.COMPLETED, JobState.DOWNLOADING})
_SETTLED = FINAL - {JobState.NEEDS_REVIEW}
"""Ended jobs whose workflow returns at once (one in review may hold its slot for a while)."""
EXECUTOR_TTL = 30.0
"""Seconds an engine's lease lasts unless renewed; a process on another host that stopped
renewing is taken for dead (and its workflows recovered) this long after its last renewal.
A process on this host that is gone is taken for dead at once."""
_RENEW_EVERY = EXECUTOR_TTL / 3
_FINISH_WITHIN = 3.0
"""Seconds a stopping engine waits for the workflows of jobs that have ended to return."""
_LEGACY_EXECUTOR = "local"
"""The executor id DBOS uses when given none (databases written before executors existed)."""

log = logging.getLogger("reelforge.engine")


class Engine:
    """Runs batches as durable workflows on DBOS, each job against its provider's account.

    ::

        providers = Providers({"openai": Endpoint(provider="openai", base_url=url,
                                                  credential=SecretStr(key))})
        async with Engine(db_url=db, providers=providers) as engine:
            batch_id = await engine.submit(batch, out=Path("out"))
            summary = await engine.wait(batch_id)

    A job's ``provider`` routes it (:class:`~reelforge.providers.registry.Providers` knows each
    provider's endpoint and builds its adapter); the in-flight cap and the create rate apply
    per account. Only one engine may run per process (DBOS is a process-wide runtime).
    """

    def __init__(
        self,
        *,
        db_url: str,
        providers: Providers,
        max_in_flight: int = 4,
        rpm: int | None = None,
        poll: PollPolicy | None = None,
        reconcile: ReconcilePolicy | None = None,
        prices: PriceTable | None = None,
        clock: Clock | None = None,
        http_timeout: httpx.Timeout | None = None,
        queue_poll_interval: float = 0.1,
        command: str | None = None,
        batch: str | None = None,
        worker_concurrency: int | None = None,
        listen: bool = True,
    ) -> None:
        if max_in_flight < 1:
            raise ConfigError("max_in_flight must be at least 1")
        if rpm is not None and rpm < 1:
            raise ConfigError("rpm must be at least 1")
        if worker_concurrency is not None and worker_concurrency < 1:
            raise ConfigError("worker_concurrency must be at least 1")
        self.db_url = db_url
        self.providers = providers
        self.max_in_flight = max_in_flight
        self.rpm = rpm
        self.poll = poll or PollPolicy()
        self.reconcile_policy = reconcile or ReconcilePolicy()
        self.prices = prices or default_prices()
        self.clock = clock or SystemClock()
        self._http_timeout = http_timeout or httpx.Timeout(60.0, connect=10.0)
        self._queue_poll_interval = queue_poll_interval
        self._store: Store | None = None
        self._client: httpx.AsyncClient | None = None
        self._restarts: dict[str, int] = {}
        self.executor_id = lease_owner()
        """This process's DBOS executor id (``host:pid:nonce``), registered in the store."""
        self._command = command or _command_line()
        self.batch = batch
        """A batch to claim for this process before any workflow starts (see :meth:`claim`)."""
        self.worker_concurrency = worker_concurrency
        """Most jobs each process on the database runs at once (``None``: as the queue has it).

        DBOS 3.4 keeps this limit in the database with the queue, so it is one value for every
        process: the last engine started with one sets it for all (see ``reelforge worker``)."""
        self.listen = listen
        """Whether this process runs queued jobs (``False``: it only records and enqueues them,
        as ``reelforge run --detach`` does)."""
        self._heartbeat: asyncio.Task[None] | None = None
        self._lease_lost = False
        self._queues: dict[str, Queue] = {}

    @property
    def accounts(self) -> frozenset[str]:
        """The accounts this engine has credentials for (one per configured provider)."""
        return frozenset(self.providers.accounts())

    @property
    def lease_lost(self) -> bool:
        """Whether this process's heartbeat found its executor lease gone (it should stop)."""
        return self._lease_lost

    @property
    def store(self) -> Store:
        """The store (only inside ``async with``)."""
        if self._store is None:
            raise RuntimeError("use Engine inside 'async with'")
        return self._store

    async def __aenter__(self) -> Self:
        store = Store(self.db_url, now=self.clock.now)
        await asyncio.to_thread(store.migrate)
        # Registered before DBOS starts: from now on no other engine takes this process (and
        # the workflows it will own) for dead while it renews its lease.
        await asyncio.to_thread(
            store.register_executor, self.executor_id, command=self._command, ttl=EXECUTOR_TTL
        )
        self._store = store
        if self.batch is not None:
            # Before DBOS starts: a process refused here has run no workflow of anyone's.
            try:
                await asyncio.to_thread(self.claim, self.batch)
            except BaseException:
                await asyncio.to_thread(store.retire_executor, self.executor_id)
                store.close()
                self._store = None
                raise
        self._client = httpx.AsyncClient(
            transport=crash_transport(httpx.AsyncHTTPTransport()), timeout=self._http_timeout
        )
        built = self.providers.build(client=self._client, clock=self.clock)
        context.install(
            context.EngineContext(
                store=store,
                providers=built,
                clock=self.clock,
                poll=self.poll,
                reconcile=self.reconcile_policy,
                prices=self.prices,
                pushed=frozenset(
                    account
                    for account, provider in built.items()
                    if isinstance(provider, PushesCompletions) and provider.webhooks
                ),
                simulated=frozenset(
                    account
                    for account, endpoint in self.providers.accounts().items()
                    if endpoint.simulated
                ),
            )
        )
        DBOS(
            config={
                "name": "reelforge",
                "system_database_url": self.db_url,
                "log_level": "WARNING",
                # Our own id: DBOS then recovers at launch only this process's workflows
                # (none), never those of another live process on the same database.
                "executor_id": self.executor_id,
                # How often a waiting workflow looks for a wake (``reelforge poke``, a
                # webhook): DBOS's 1 s default would add up to a second to every webhook.
                "notification_listener_polling_interval_sec": _WAKE_CHECK_INTERVAL,
            }
        )
        # Only the queues of the accounts this process can send for (and those of earlier
        # releases, drained): a job of another account waits for a process that has its
        # credentials instead of being dequeued here and failing. Enqueue-only: none.
        DBOS.listen_queues(
            [
                *(name for account in sorted(self.accounts) for name in _queues_of(account)),
                *LEGACY_QUEUES,
            ]
            if self.listen
            else []
        )
        DBOS.launch()
        for account in sorted(self.accounts):
            await self._register_queues(account, update=True)
        await self.recover_dead_executors()
        self._heartbeat = asyncio.create_task(self._renew_lease(), name="reelforge-executor-lease")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat
            self._heartbeat = None
        if exc_type is None:
            with contextlib.suppress(Exception):
                await self._let_ended_jobs_finish()
        with contextlib.suppress(Exception):
            await self._drop_simulator_queues()
        _quiet_stopped_engine_noise()
        with contextlib.suppress(Exception):
            DBOS.destroy(destroy_registry=False)
        # DBOS lent this loop its thread pool and has just shut it down: give the loop a
        # fresh one, so the caller (or a next engine) can still use asyncio.to_thread.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
        if self._store is not None:
            # What this process leaves pending is recovered by the next engine at once.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._store.retire_executor, self.executor_id)
        context.uninstall()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._store is not None:
            self._store.close()
            self._store = None

    async def _drop_simulator_queues(self) -> None:
        """Delete the queues of this process's built-in simulator once nothing waits on them.

        The simulator listens on a port of its own each run, so each run is an account of its
        own: without this, every demo run would leave two queues behind, which DBOS lists every
        second from then on. A queue that still holds a workflow (a run stopped early) stays.
        """
        simulated = [a for a, e in self.providers.accounts().items() if e.simulated]
        for name in (name for account in simulated for name in _queues_of(account)):
            waiting = await DBOS.list_workflows_async(
                queue_name=name, status=list(_RUNNING), load_input=False, load_output=False
            )
            if not waiting:
                await DBOS.delete_queue_async(name)

    async def _let_ended_jobs_finish(self, *, within: float = _FINISH_WITHIN) -> None:
        """Wait (briefly) for this process's workflows whose job has already ended.

        A job's last step records its final state; its workflow then returns and DBOS records
        the workflow's outcome. A batch is over as soon as every job has ended, so without this
        wait the process could stop DBOS between the two, and the next engine would replay the
        workflow for nothing. Not waited for: workflows of jobs still running (another batch's,
        say) and of jobs in review, which may hold their slot until the job's timeout; they
        continue in the next engine. A job workflow of an ended job that waits for its next
        check (one this process recovered from a dead one, whose job another process ended) is
        woken, so it finishes now instead of being interrupted mid-wait.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        woken: set[str] = set()
        while loop.time() < deadline:
            running = await DBOS.list_workflows_async(
                executor_id=self.executor_id, status="PENDING", load_input=False, load_output=False
            )
            jobs = {job_of(w.workflow_id) for w in running}
            if not jobs:
                return
            ended = await asyncio.to_thread(self._ended, jobs)
            if not ended:
                return
            for workflow in running:
                workflow_id = workflow.workflow_id
                if (
                    not is_download(workflow_id)
                    and job_of(workflow_id) in ended
                    and workflow_id not in woken
                ):
                    woken.add(workflow_id)
                    with contextlib.suppress(Exception):
                        await DBOS.send_async(workflow_id, None, WAKE_TOPIC)
            await asyncio.sleep(0.02)

    def _ended(self, job_ids: set[str]) -> set[str]:
        ended = set()
        for job_id in job_ids:
            with contextlib.suppress(Exception):
                if self.store.get_job(job_id).state in _SETTLED:
                    ended.add(job_id)
        return ended

    async def _worker_concurrency(self, name: str) -> int | None:
        """This engine's per-process limit, else the one the queue already has (registering
        the queue writes every setting, and a ``reelforge run`` beside workers must not lift
        theirs)."""
        if self.worker_concurrency is not None:
            return self.worker_concurrency
        queue = await DBOS.retrieve_queue_async(name)
        return None if queue is None else await queue.get_worker_concurrency_async()

    async def _register_queues(self, account: str, *, update: bool) -> None:
        """Register ``account``'s two queues with this engine's settings: its in-flight cap
        as the submit queue's concurrency across all processes, its create rate as the
        limiter. ``update`` overwrites settings already there (an engine with the account's
        credentials); otherwise a queue that exists is left as its owner set it."""
        submit, download = _queues_of(account)
        conflict: Literal["always_update", "never_update"] = (
            "always_update" if update else "never_update"
        )
        limiter = {"limit": self.rpm, "period": 60.0} if self.rpm else None
        # One partition (the account), not a queue-wide limit: DBOS claims a partitioned
        # queue's work partition by partition and skips one another process is claiming at
        # that moment, where a queue-wide limit on PostgreSQL makes a claim that meets
        # another's fail on serialization and back the queue's polling off (doubling, up to
        # two minutes): two workers would mostly wait.
        self._queues[submit] = await DBOS.register_queue_async(
            submit,
            worker_concurrency=await self._worker_concurrency(submit),
            partition_concurrency=self.max_in_flight,
            partition_limiter=limiter,  # type: ignore[arg-type]  # DBOS's TypedDict
            polling_interval_sec=self._queue_poll_interval,
            on_conflict=conflict,
        )
        self._queues[download] = await DBOS.register_queue_async(
            download,
            worker_concurrency=_DOWNLOADS_AT_ONCE,
            # Only downloads a watcher starts wait here (a job workflow starts its own): a
            # slower poll costs them at most a second and saves its CPU all run long.
            polling_interval_sec=max(self._queue_poll_interval, _DOWNLOAD_QUEUE_POLL),
            on_conflict=conflict,
        )

    async def _queue(self, name: str, account: str) -> Queue:
        """The queue ``name`` of ``account``, registered first if no process has yet."""
        if name not in self._queues:
            await self._register_queues(account, update=False)
        return self._queues[name]

    # -- executors ----------------------------------------------------------------------------

    async def _renew_lease(self) -> None:
        while True:
            await asyncio.sleep(_RENEW_EVERY)
            try:
                renewed = await asyncio.to_thread(
                    self.store.renew_executor, self.executor_id, ttl=EXECUTOR_TTL
                )
            except Exception:  # the database is busy or away: try again at the next beat
                log.warning("could not renew this process's executor lease", exc_info=True)
                continue
            if not renewed:
                self._lease_lost = True
                log.error(
                    "this process's executor lease expired and another process may have "
                    "taken over its jobs; stopping"
                )
                return

    async def recover_dead_executors(self) -> list[str]:
        """Recover the pending workflows of every engine process that is gone (killed, or
        silent past its lease), then forget it; return the executor ids recovered.

        A live process's workflows are never touched. A dead executor with a pending workflow
        of an account this engine has no credentials for is left for an engine that has them.
        """
        store = self.store
        dead = [row.id for row in await asyncio.to_thread(store.dead_executors)]
        recovered = []
        for executor in [_LEGACY_EXECUTOR, *dead]:
            if executor == self.executor_id:
                continue
            pending = await DBOS.list_workflows_async(
                executor_id=executor, status="PENDING", load_input=False, load_output=False
            )
            foreign = [w.workflow_id for w in pending if not self._serves(w.workflow_id)]
            if foreign:
                log.warning(
                    "not recovering %d workflows of stopped process %s: they belong to other "
                    "credentials (e.g. %s)",
                    len(foreign),
                    executor,
                    foreign[0],
                )
                continue
            if pending:
                log.info("recovering %d workflows of stopped process %s", len(pending), executor)
                await asyncio.to_thread(DBOS._recover_pending_workflows, [executor])
            if executor != _LEGACY_EXECUTOR:
                await asyncio.to_thread(store.forget_executor, executor)
            recovered.append(executor)
        return recovered

    def _serves(self, workflow_id: str) -> bool:
        """Whether this engine has the credentials for the job of ``workflow_id``."""
        try:
            job = self.store.get_job(job_of(workflow_id))
        except Exception:  # not one of ours (or gone): nothing of ours to lose
            return True
        return job.account in self.accounts

    def claim(self, batch_id: str) -> None:
        """Make this process the batch's runner; :class:`ConfigError` (exit 2) if another live
        process is running it (two runners would race each other for the same jobs)."""
        holder = self.store.claim_batch(batch_id, self.executor_id)
        if holder is not None:
            raise _already_running(batch_id, holder)

    # -- batches ------------------------------------------------------------------------------

    async def submit(
        self,
        batch: Batch | BatchSlices,
        *,
        out: Path,
        budget: Decimal | None = None,
        rejected: Mapping[str, str] | None = None,
        flat: bool = False,
    ) -> str:
        """Record the batch and its jobs (idempotently) and enqueue every unfinished job.

        Running the same batch again continues it: jobs already recorded keep their state,
        and a job that was ever created on the provider is never created again.

        ``rejected`` maps job keys to the reasons compliance blocked them: a new job is added
        already ``rejected`` (category ``compliance``), and one recorded by an earlier run
        that has not been sent yet (``pending`` or ``waiting``) is rejected now, before
        anything is enqueued. A job already sent is left as it is.

        ``flat`` (a one-job batch) writes the job's files straight into ``out/<batch>/``.

        A :class:`BatchSlices` (a batch too large to hold: a million jobs) is recorded a
        slice at a time as its slices are made, each job carrying its own rejection; nothing
        is enqueued before the last slice is recorded, so a slice that cannot be made (or
        names an unknown provider) stops the submit with nothing sent, and running it again
        continues it.
        """
        store = self.store
        streamed = isinstance(batch, BatchSlices)
        if not isinstance(batch, BatchSlices):
            # Every job's provider must be known and configured before anything is recorded.
            self.providers.check(job.spec.provider for job in batch.jobs)
        await asyncio.to_thread(
            store.upsert_batch,
            batch.name,
            name=batch.name,
            out_dir=str(out),
            source=str(batch.source) if batch.source else None,
            budget_usd=budget,
            max_in_flight=self.max_in_flight,
            rpm=self.rpm,
            flat=not isinstance(batch, BatchSlices) and flat and len(batch.jobs) == 1,
        )
        await asyncio.to_thread(self.claim, batch.name)
        if isinstance(batch, BatchSlices):
            await self._record_slices(batch)
        else:
            new = [
                self._new_job(job.key, job.spec, job.index, (rejected or {}).get(job.key))
                for job in batch.jobs
            ]
            if len({item.key for item in new}) < len(new):
                await asyncio.to_thread(store.add_jobs, batch.name, new)  # refuses, records nothing
            # A large batch is recorded a slice per transaction: each write transaction holds
            # the database's writer lock, and one of minutes would hold up every other writer
            # (this process's own lease renewal included). Recording is idempotent, so a run
            # stopped half-way is continued by running it again.
            for start in range(0, len(new), _RECORD_SLICE):
                part = new[start : start + _RECORD_SLICE]
                await asyncio.to_thread(store.add_jobs, batch.name, part)
        # Before anything is sent: a job this database never tried may have been paid for
        # under another database (its job.json in the output folder says so). No job.json
        # there, nothing to adopt (and a large batch's rows are not all read).
        if await asyncio.to_thread(self._has_job_records, batch.name):
            for line in await asyncio.to_thread(
                adopt_from_out, store, batch.name, window=self.reconcile_policy.window
            ):
                log.warning("batch %s: %s", batch.name, line)
        if rejected and not streamed:
            await asyncio.to_thread(self._reject, batch.name, rejected)
        # As resume(), with the first workflows of jobs that have none enqueued in bulk.
        await asyncio.to_thread(self.claim, batch.name)
        await self._enqueue_unfinished(batch.name)
        return batch.name

    async def _record_slices(self, batch: BatchSlices) -> None:
        """Record a :class:`BatchSlices` a slice per transaction, each slice made (in a
        thread: making it may take a while) just before it is recorded."""
        store = self.store
        slices = iter(batch.slices)
        while (part := await asyncio.to_thread(next, slices, None)) is not None:
            self.providers.check(job.spec.provider for job in part)
            new = [self._new_job(job.key, job.spec, job.position, job.rejected) for job in part]
            await asyncio.to_thread(store.add_jobs, batch.name, new)
            reasons = {job.key: job.rejected for job in part if job.rejected is not None}
            if reasons:
                await asyncio.to_thread(self._reject_keys, batch.name, reasons)

    def _new_job(self, key: str, spec: JobSpec, position: int, rejected: str | None) -> NewJob:
        """A job to record: its account and estimate from this engine's providers and prices."""
        return NewJob(
            key=key,
            spec=spec,
            position=position,
            account=self.providers.account(spec.provider),
            estimated_cost=self.prices.estimate(spec),
            rejected=rejected,
        )

    def _has_job_records(self, batch_id: str) -> bool:
        """Whether the batch's output folder holds a ``job.json`` where adoption looks."""
        row = self.store.get_batch(batch_id)
        folder = Path(row.out_dir) / row.name
        if not folder.is_dir():
            return False
        if row.flat:
            return (folder / "job.json").exists()
        return any(path.is_file() for path in folder.glob("*/job.json"))

    def _reject(self, batch_id: str, rejected: Mapping[str, str]) -> None:
        for job in self.store.jobs(batch_id):
            reason = rejected.get(job.key)
            if reason is not None:
                self._reject_job(job, reason)

    def _reject_keys(self, batch_id: str, rejected: Mapping[str, str]) -> None:
        """:meth:`_reject` for a few keys, each job read on its own."""
        for key, reason in rejected.items():
            self._reject_job(self.store.get_job(make_job_id(batch_id, key)), reason)

    def _reject_job(self, job: JobRow, reason: str) -> None:
        """Compliance blocked ``job``: ``rejected`` if it has not been sent yet."""
        if job.state in _UNSENT:
            self.store.transition(
                job.id,
                JobState.REJECTED,
                expect=_UNSENT,
                category=ErrorCategory.COMPLIANCE,
                error=reason,
            )

    async def resume(self, batch_id: str) -> int:
        """Make sure every unfinished job of the batch has a live workflow; return how many.

        Claims the batch for this process first (:meth:`claim`). A job is started again only
        when no workflow of it runs and its row did not move while that was looked up (see
        :meth:`_stalled`): a job some worker's workflow moved on meanwhile is left to it."""
        await asyncio.to_thread(self.claim, batch_id)
        count = 0
        for job in await asyncio.to_thread(self.store.jobs, batch_id):
            if job.state in FINAL:
                continue
            stalled = await self._stalled(job)
            if stalled is not None:
                await self._ensure_workflow(stalled[0])
            count += 1
        return count

    async def start(self, job_id: str) -> None:
        """Make sure one job has a live workflow (after a review settled it, for instance)."""
        await self._ensure_workflow(self.store.get_job(job_id))

    async def _ensure_workflow(self, job: JobRow) -> None:
        base, downloading = _workflow_base(job)
        n = 1
        while True:
            workflow_id = numbered(base, n)
            status = await DBOS.get_workflow_status_async(workflow_id)
            if status is None:
                break
            if status.status in _RUNNING:
                return
            n += 1
        if downloading:
            queue = await self._queue(download_queue(job.account), job.account)
            with SetWorkflowID(workflow_id):
                await queue.enqueue_async(download_workflow, job.id)
            return
        queue = await self._queue(submit_queue(job.account), job.account)
        priority = min(job.position + 1, 2**31 - 1)
        with (
            SetWorkflowID(workflow_id),
            SetEnqueueOptions(queue_partition_key=job.account, priority=priority),
        ):
            await queue.enqueue_async(job_workflow, job.id)

    async def _enqueue_unfinished(self, batch_id: str) -> int:
        """Make sure every unfinished job of the batch has a live workflow; return how many.

        The same outcome as :meth:`_ensure_workflow` for each job, with fewer round trips: a
        job queued for its create whose first workflow does not exist yet (every job of a new
        batch) has it enqueued together with up to ``_ENQUEUE_CHUNK - 1`` others, in one
        transaction that skips any id already there (so a workflow enqueued meanwhile by
        another process is kept, never doubled). Every other job (a workflow already exists,
        or it is downloading) goes through :meth:`_ensure_workflow` one by one. The jobs are
        read a page of a few columns at a time (a batch may hold a million).
        """
        dbos = _dbos_instance()
        count = 0
        after: tuple[int, str] | None = None
        while True:
            chunk = await asyncio.to_thread(
                self.store.job_page, batch_id, after=after, limit=_ENQUEUE_CHUNK, skip=FINAL
            )
            if not chunk:
                return count
            count += len(chunk)
            after = (chunk[-1][2], chunk[-1][0])
            first = {
                numbered(ident, 1): (ident, position, account)
                for ident, state, position, account in chunk
                if state not in _DOWNLOADING
            }
            known: set[str] = set()
            if first:
                listed = await DBOS.list_workflows_async(
                    workflow_ids=list(first), load_input=False, load_output=False
                )
                known = {w.workflow_id for w in listed}
            statuses = []
            for workflow_id, (ident, position, account) in first.items():
                if workflow_id in known:
                    continue
                name = submit_queue(account)
                await self._queue(name, account)
                status = prepare_enqueued_workflow(
                    dbos,
                    job_workflow,
                    (ident,),
                    {},
                    queue_name=name,
                    workflow_id=workflow_id,
                    queue_partition_key=account,
                )
                status["priority"] = min(position + 1, 2**31 - 1)
                statuses.append(status)
            if statuses:
                await asyncio.to_thread(dbos._sys_db.init_workflows, statuses)
            bulk = {s["workflow_uuid"] for s in statuses}
            for ident, _, _, _ in chunk:
                if numbered(ident, 1) not in bulk:
                    await self._ensure_workflow(await asyncio.to_thread(self.store.get_job, ident))

    async def wait(
        self,
        batch_id: str,
        *,
        on_update: Callable[[BatchSummary], None] | None = None,
        interval: float = 0.25,
    ) -> BatchSummary:
        """Wait until every job of the batch has ended; return the final summary."""
        checks = 0
        unreachable_since: float | None = None
        while True:
            try:
                summary = await asyncio.to_thread(self.store.batch_summary, batch_id)
            except StoreError as exc:
                # The database restarting, or briefly away: the workflows wait for it too.
                # Give up only once it has been away longer than this process's lease.
                now = asyncio.get_running_loop().time()
                unreachable_since = unreachable_since or now
                if now - unreachable_since > EXECUTOR_TTL:
                    raise
                log.warning("cannot read the batch's state (%s); trying again", exc)
                await asyncio.sleep(max(interval, 1.0))
                continue
            unreachable_since = None
            if on_update is not None:
                on_update(summary)
            active = summary.total - sum(summary.counts[state] for state in FINAL)
            if active == 0:
                return summary
            if self._lease_lost:
                raise ConfigError(
                    "this process stopped renewing its lease (the database was unreachable for "
                    f"over {EXECUTOR_TTL:.0f} s) and its jobs may be running elsewhere: run "
                    "the same command again to continue"
                )
            checks += 1
            if checks % max(1, int(5 / interval)) == 0:
                try:
                    await self.recover_dead_executors()
                    await self._restart_dead_workflows(batch_id)
                except (StoreError, SQLAlchemyError) as exc:
                    log.warning("cannot check the batch's workflows (%s); later", exc)
            await asyncio.sleep(interval)

    async def _restart_dead_workflows(self, batch_id: str) -> None:
        """A workflow that ended in error leaves its job unfinished: start it again, a few times."""
        for seen in self.store.jobs(batch_id, states=_STARTED):
            stalled = await self._stalled(seen)
            if stalled is None:
                continue
            job, latest = stalled
            restarts = self._restarts.get(job.id, 0)
            if restarts >= _MAX_RESTARTS:
                await self._give_up(job, latest)
                continue
            self._restarts[job.id] = restarts + 1
            log.warning("job %s: its workflow ended %s; starting it again", job.id, latest)
            await self._ensure_workflow(job)

    async def _stalled(self, job: JobRow) -> tuple[JobRow, tuple[str, str] | None] | None:
        """The job read again, and its latest workflow, when no workflow of it runs and it has
        not moved since ``job`` was read; else ``None``.

        ``job`` may be stale by the time its workflows are looked up (another process's
        workflow moved it on, ended, and handed it to a download workflow meanwhile): starting
        a workflow from the stale row would run the job twice. A job unchanged across the
        look-up had no live workflow during it (only a workflow changes a started job)."""
        latest = await self._latest_workflow(_workflow_base(job)[0])
        if latest is not None and latest[1] in _RUNNING:
            return None
        if latest is None and job.state in _DOWNLOADING:
            # The job workflow may be about to start the download: give it a moment.
            owner = await self._latest_workflow(job.id)
            if owner is not None and owner[1] in _RUNNING:
                return None
        fresh = await asyncio.to_thread(self.store.get_job, job.id)
        if fresh.version != job.version or fresh.state in FINAL:
            return None
        return fresh, latest

    async def take_over(self, batch_id: str) -> int:
        """Claim a batch other processes may be working on (:meth:`claim`) and start a workflow
        for each unfinished job that has none running; return how many were started.

        Like :meth:`resume` it starts nothing for a job that moves while it looks (its
        workflow is alive in some process), so it is safe beside running workers."""
        await asyncio.to_thread(self.claim, batch_id)
        count = 0
        for job in await asyncio.to_thread(self.store.jobs, batch_id):
            if job.state in FINAL:
                continue
            stalled = await self._stalled(job)
            if stalled is None:
                continue
            await self._ensure_workflow(stalled[0])
            count += 1
        return count

    async def _give_up(self, job: JobRow, latest: tuple[str, str] | None) -> None:
        """A job whose workflow keeps failing ends for review (collectable, never resent), so
        the batch ends and says why instead of waiting forever."""
        error = "no error recorded"
        if latest is not None:
            status = await DBOS.get_workflow_status_async(latest[0])
            if status is not None and status.error is not None:
                error = f"{type(status.error).__name__}: {status.error}"
        error = " ".join(error.split())[:500]
        category = ErrorCategory.DOWNLOAD if job.state in _DOWNLOADING else ErrorCategory.TRANSIENT
        to = JobState.FAILED if job.state in _DOWNLOADING else JobState.NEEDS_REVIEW
        if to is JobState.FAILED and job.estimated_cost is not None:
            await asyncio.to_thread(self.store.settle, job.id, job.estimated_cost)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(
                self.store.transition,
                job.id,
                to,
                expect={job.state},
                category=category,
                error=f"its workflow failed {_MAX_RESTARTS + 1} times ({error}); "
                "`reelforge reconcile` or `reelforge retry` continues it",
            )

    async def _latest_workflow(self, base: str) -> tuple[str, str] | None:
        found: tuple[str, str] | None = None
        n = 1
        while (status := await DBOS.get_workflow_status_async(numbered(base, n))) is not None:
            found = (numbered(base, n), status.status)
            n += 1
        return found

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


class _StoppedEngineNoise(logging.Filter):
    """Drops DBOS's error record for a workflow interrupted because this process stopped DBOS.

    Stopping DBOS interrupts the workflows still running in this process (a job holding its
    slot, another batch's job); DBOS then logs each one's failed attempt to record an outcome
    ("accessed before DBOS was launched") with a traceback, even after it has stopped. Nothing
    is lost — each stays pending in the database and the next engine continues it — so these
    records are not shown. Every other DBOS record passes.
    """

    _SIGNS = ("before DBOS was launched", "No DBOS was created yet")

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        seen = 0
        while error is not None and seen < 10:
            if isinstance(error, DBOSException) and any(s in str(error) for s in self._SIGNS):
                return False
            error = error.__cause__ or error.__context__
            seen += 1
        return True


def _quiet_stopped_engine_noise() -> None:
    logger = logging.getLogger("dbos")
    if not any(isinstance(f, _StoppedEngineNoise) for f in logger.filters):
        logger.addFilter(_StoppedEngineNoise())


def _command_line() -> str:
    """How this process was started, for messages naming it (``reelforge run spring.yaml``)."""
    args = list(sys.argv)
    if args and args[0].endswith(("reelforge", "__main__.py")):
        args[0] = "reelforge"
    return shlex.join(args)[:500] if args else "reelforge"


def ensure_not_running(store: Store, batch_id: str) -> None:
    """:class:`ConfigError` (exit 2) if a live process is running the batch: checked before
    an engine starts, so a second ``reelforge run`` of a batch sends and recovers nothing."""
    holder = store.batch_runner(batch_id)
    if holder is not None:
        raise _already_running(batch_id, holder)


def _already_running(batch_id: str, holder: ExecutorRow) -> ConfigError:
    return ConfigError(
        f"batch {batch_id} is already being run by {holder.describe()}: let it finish "
        f"(follow it with `reelforge watch {batch_id}`), or stop that process first"
    )


def _queues_of(account: str) -> tuple[str, str]:
    """``account``'s submit and download queues."""
    return submit_queue(account), download_queue(account)
