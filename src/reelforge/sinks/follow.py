"""Sinks beside a running batch: follow the outbox while it runs, catch up at the end.

::

    async with follow_sinks(engine.store, sinks) as follower:
        await run_batch(engine, batch, out=out)
    follower.caught_up      # False: a sink is behind (down?); `reelforge sinks sync` later
    follower.statuses       # each sink's cursor, lag and last error
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from reelforge.sinks.base import Sink
from reelforge.sinks.runner import SinkRunner
from reelforge.sinks.status import SinkStatus, sink_status
from reelforge.store import Store

__all__ = ["SinkFollower", "follow_sinks"]

DEFAULT_FINAL_WAIT = 120.0
"""Seconds the sinks get, after the batch, to deliver what is left."""

log = logging.getLogger("reelforge.sinks")


class SinkFollower:
    """Runs ``sinks`` over the outbox of ``store`` for as long as it is entered.

    On exit the sinks get ``final_wait`` seconds to deliver what is left (a down destination
    is retried with backoff until then); whatever is still undelivered stays behind the
    sink's durable cursor for the next run or ``reelforge sinks sync``. Nothing is lost
    either way.
    """

    def __init__(
        self,
        store: Store,
        sinks: Sequence[Sink],
        *,
        final_wait: float = DEFAULT_FINAL_WAIT,
        poll_interval: float = 0.5,
    ) -> None:
        self._store = store
        self._runner = SinkRunner(store, sinks) if sinks else None
        self._final_wait = final_wait
        self._poll_interval = poll_interval
        self._task: asyncio.Task[None] | None = None
        self.caught_up: bool = True
        """After exit: whether every sink delivered the whole outbox."""
        self.statuses: list[SinkStatus] = []
        """After exit: each sink's status."""

    @property
    def names(self) -> list[str]:
        """The sinks' names (their cursors' keys)."""
        return [sink.name for sink in self._runner.sinks] if self._runner else []

    async def __aenter__(self) -> Self:
        if self._runner is not None:
            try:
                for sink in self._runner.sinks:
                    # An optional hook: a sink that can tell a setup problem (a wrong token, a
                    # database not shared) refuses before the run starts, not at its end.
                    preflight = getattr(sink, "preflight", None)
                    if preflight is not None:
                        await preflight()
            except BaseException:
                await self._runner.aclose()
                raise
            self._task = asyncio.create_task(
                self._runner.run_forever(self._poll_interval), name="reelforge-sinks"
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        runner = self._runner
        if runner is None:
            return
        runner.stop()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        try:
            if exc_type is None:
                self.caught_up = await runner.drain(time.monotonic() + self._final_wait)
            else:  # a failing or interrupted run: leave the rest to the next one
                self.caught_up = False
        finally:
            await runner.aclose()
        self.statuses = await asyncio.to_thread(sink_status, self._store, self.names)
        for status in self.statuses:
            if status.lag_events:
                log.warning(
                    "sink %s is %d events behind (last error: %s)",
                    status.name,
                    status.lag_events,
                    status.last_error or "none",
                )


def follow_sinks(
    store: Store,
    sinks: Sequence[Sink],
    *,
    final_wait: float = DEFAULT_FINAL_WAIT,
    poll_interval: float = 0.5,
) -> SinkFollower:
    """A :class:`SinkFollower` (an async context manager); with no sinks it does nothing."""
    return SinkFollower(store, sinks, final_wait=final_wait, poll_interval=poll_interval)
