"""Keeping every batch on a database moving: the loop ``reelforge serve`` and ``reelforge
worker`` share.

Every engine process dequeues jobs of any batch (DBOS's queue is the database's), but a batch
also needs one *watcher*: the process that restarts its errored workflows and ends jobs whose
workflow keeps failing (:meth:`Engine.wait`). ``reelforge run`` watches its own batch; a batch
enqueued with ``run --detach``, or whose runner died, has none. :func:`keep_resuming` claims
such orphans (one live process per batch, :meth:`Engine.claim`) and watches each to its end,
and recovers the workflows of dead executors, every few seconds, for as long as it runs.
"""

from __future__ import annotations

import asyncio
import logging

from reelforge.core.errors import ConfigError, ReelforgeError
from reelforge.engine.outcome import FINAL
from reelforge.engine.runner import EXECUTOR_TTL, Engine

__all__ = [
    "RESUME_EVERY",
    "LeaseLostError",
    "keep_resuming",
    "orphan_batches",
    "resume_orphans",
]

RESUME_EVERY = 5.0
"""Seconds between two looks for unfinished batches no live process runs."""

log = logging.getLogger("reelforge.engine")


class LeaseLostError(ReelforgeError):
    """This process's executor lease expired or was taken over: another process may be running
    its jobs, so it stopped (exit 1); starting it again continues them."""


def orphan_batches(engine: Engine) -> list[str]:
    """Batches with unfinished jobs that no other live process runs and whose unfinished jobs
    all belong to accounts this engine has credentials for."""
    store = engine.store
    found = []
    for batch in store.batches():
        open_jobs = [job for job in store.jobs(batch.id) if job.state not in FINAL]
        if not open_jobs:
            continue
        runner = store.batch_runner(batch.id)
        if runner is not None and runner.id != engine.executor_id:
            continue
        foreign = {job.account for job in open_jobs} - engine.accounts
        if foreign:
            log.debug("batch %s has jobs of accounts this process cannot reach", batch.id)
            continue
        found.append(batch.id)
    return found


async def resume_orphans(engine: Engine, followed: dict[str, asyncio.Task[object]]) -> list[str]:
    """Resume every unfinished batch no other live process runs (see :func:`orphan_batches`),
    each followed to its end by a task in ``followed``; return the ids resumed now. A batch
    another process claims meanwhile is left to it."""
    await engine.recover_dead_executors()
    resumed = []
    for batch_id in await asyncio.to_thread(orphan_batches, engine):
        task = followed.get(batch_id)
        if task is not None and not task.done():
            continue
        try:
            count = await engine.take_over(batch_id)
        except ConfigError:  # another process claimed it since we looked
            continue
        log.info("resuming batch %s (%d workflows started again)", batch_id, count)
        task = asyncio.create_task(engine.wait(batch_id, interval=1.0), name=f"batch-{batch_id}")
        task.add_done_callback(_log_end)
        followed[batch_id] = task
        resumed.append(batch_id)
    return resumed


def _log_end(task: asyncio.Task[object]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.warning("following %s stopped: %s", task.get_name(), error)


async def keep_resuming(engine: Engine, every: float, lost: asyncio.Event) -> None:
    """Resume orphaned batches every ``every`` seconds (the batches this process follows are
    watched until they end or this is cancelled); set ``lost`` and return once this process's
    lease is found gone."""
    followed: dict[str, asyncio.Task[object]] = {}
    try:
        while True:
            try:
                held = await asyncio.to_thread(
                    engine.store.renew_executor, engine.executor_id, ttl=EXECUTOR_TTL
                )
                if not held:
                    log.error("this process's executor lease was lost; stopping")
                    lost.set()
                    return
                await resume_orphans(engine, followed)
            except Exception:  # the database is busy or away: look again next time
                log.warning("could not look for unfinished batches", exc_info=True)
            await asyncio.sleep(every)
    finally:
        for task in followed.values():
            task.cancel()
        await asyncio.gather(*followed.values(), return_exceptions=True)
