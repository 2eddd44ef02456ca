"""Running ``reelforge worker``: an engine that runs queued jobs of every batch on its database
until it is asked to stop.

Any number of workers (and ``reelforge run`` or ``reelforge serve`` processes) may share one
database: DBOS hands each queued job to one of them, within the account's in-flight cap and
create rate, which hold across all of them. Each worker also keeps every batch moving
(:func:`~reelforge.engine.keeper.keep_resuming`): it recovers the workflows of dead processes
and watches the batches no live process watches (``run --detach``'s, a dead runner's).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

from reelforge.app.forge import Forge
from reelforge.engine import Engine
from reelforge.engine.keeper import RESUME_EVERY, LeaseLostError, keep_resuming
from reelforge.sinks.config import SinkPlan
from reelforge.sinks.follow import SinkFollower

__all__ = ["stop_on_signals", "work"]


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM set ``stop`` (instead of ending the process)."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def work(
    forge: Forge,
    *,
    concurrency: int | None = None,
    sinks: SinkPlan | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Engine], None] | None = None,
    resume_every: float = RESUME_EVERY,
) -> SinkFollower:
    """Run queued jobs (at most ``concurrency`` at once in this process) until SIGINT, SIGTERM
    or ``stop``; ``sinks`` follow the outbox meanwhile. ``on_ready(engine)`` once the engine
    runs. Returns the sinks' follower.

    Raises :class:`LeaseLostError` once this process's lease is lost (another process may have
    taken its jobs over)."""
    stop = stop or asyncio.Event()
    lost = asyncio.Event()
    with stop_on_signals(stop):
        async with forge, forge.running(sinks=sinks, concurrency=concurrency) as (engine, follower):
            if on_ready is not None:
                on_ready(engine)
            resuming = asyncio.create_task(
                keep_resuming(engine, resume_every, lost), name="reelforge-keep-resuming"
            )
            waits = {
                asyncio.create_task(stop.wait()),
                asyncio.create_task(lost.wait()),
            }
            try:
                await asyncio.wait({resuming, *waits}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (resuming, *waits):
                    task.cancel()
                await asyncio.gather(resuming, *waits, return_exceptions=True)
            if lost.is_set():
                raise LeaseLostError(
                    "this process's executor lease was lost (the database was unreachable or "
                    "another process took its jobs over): it stopped; start it again to continue"
                )
    return follower
