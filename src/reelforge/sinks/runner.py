"""The :class:`SinkRunner`: reads the outbox after each sink's cursor and delivers, durably.

Each sink runs on its own: its own task, its own cursor in the ``sink_cursors`` table, its own
backoff. The cursor is the only state, committed after every delivered (or refused) event, so
a process that stops at any point continues where it stopped: at most the one event that was
in flight is delivered again, which sinks handle idempotently.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import ParamSpec, TypeVar

from reelforge.sinks._ids import database_origin
from reelforge.sinks.base import (
    Sink,
    SinkDisabledError,
    SinkEvent,
    SinkRejectedError,
    SinkUnavailableError,
)
from reelforge.store import EventKind, EventRow, Store

__all__ = ["Backoff", "SinkRunner", "coalesce_progress"]

log = logging.getLogger("reelforge.sinks")

_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter between retries of one event."""

    base: float = 1.0
    """The first retry waits up to this many seconds."""
    cap: float = 60.0
    """No jittered wait is longer than this."""
    max_retry_after: float = 600.0
    """A destination's ``Retry-After`` is honoured up to this many seconds."""

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """The wait before retry number ``attempt`` (0 for the first): a uniform draw between
        0 and ``min(cap, base * 2**attempt)``, but never less than ``retry_after``."""
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, 62))
        wait = (rng or random).uniform(0.0, ceiling)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


class _Outcome(Enum):
    """How one sink's pass over the outbox ended."""

    CAUGHT_UP = "caught_up"
    """Everything in the outbox is delivered (or refused and skipped)."""
    BEHIND = "behind"
    """The deadline came, or the runner was stopped, with events left."""
    DISABLED = "disabled"
    """The sink is disabled."""


def coalesce_progress(events: Sequence[EventRow]) -> list[EventRow]:
    """``events`` without the progress ticks a later event of the same job supersedes.

    A ``progress`` event is dropped when the same job has any later event in ``events``;
    every other kind (state changes, assets, costs…) is always kept, in order. The last
    event is therefore always kept.
    """
    seen: set[str] = set()
    kept: list[EventRow] = []
    for event in reversed(events):
        if event.kind is not EventKind.PROGRESS or event.job_id not in seen:
            kept.append(event)
        seen.add(event.job_id)
    kept.reverse()
    return kept


class SinkRunner:
    """Delivers the outbox to every sink, each independently, at least once and in order.

    ``clock`` (monotonic seconds) measures ``drain``'s deadline and ``sleep`` waits between
    polls and retries; both are injectable so tests need not wait. ``batch`` is how many
    events are read at once (progress ticks are coalesced within such a chunk).
    """

    def __init__(
        self,
        store: Store,
        sinks: Sequence[Sink],
        *,
        batch: int = 100,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        names = [sink.name for sink in sinks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"two sinks share a name (and so a cursor): {', '.join(duplicates)}")
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        self._store = store
        self._sinks = tuple(sinks)
        self._batch = batch
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._origin = database_origin(store.url)
        self._stop = asyncio.Event()
        self._following = 0
        # One pass per sink at a time, even when drain() runs beside run_forever().
        self._passes = {sink.name: asyncio.Lock() for sink in self._sinks}

    @property
    def sinks(self) -> tuple[Sink, ...]:
        """The sinks, in the order given."""
        return self._sinks

    def stop(self) -> None:
        """Ask :meth:`run_forever` and :meth:`drain` to return soon: the delivery under way
        finishes (and is committed), waits are cut short. Once they have returned, the runner
        can be started again (a final :meth:`drain` after stopping ``run_forever`` works)."""
        self._stop.set()

    async def run_forever(self, poll_interval: float = 1.0) -> None:
        """Deliver new events to every sink until :meth:`stop`, polling every
        ``poll_interval`` seconds once a sink has caught up. A disabled sink is skipped, and
        resumes from its cursor as soon as it is enabled again."""
        self._following += 1
        try:
            await asyncio.gather(*(self._follow(sink, poll_interval) for sink in self._sinks))
        finally:
            self._following -= 1
            if not self._following:
                self._stop.clear()

    async def drain(self, deadline: float | None = None) -> bool:
        """Deliver everything in the outbox now, to every sink at once; return whether every
        sink caught up. ``deadline`` is a time of ``clock`` (``time.monotonic()`` by default)
        after which no new delivery or retry starts; None waits as long as it takes.

        A disabled sink has not caught up. A database error is raised once every sink's pass
        has ended.
        """
        try:
            results = await asyncio.gather(
                *(self._pump(sink, deadline) for sink in self._sinks), return_exceptions=True
            )
        finally:
            if not self._following:
                self._stop.clear()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return all(result is _Outcome.CAUGHT_UP for result in results)

    async def aclose(self) -> None:
        """Close every sink."""
        for sink in self._sinks:
            await sink.aclose()

    # -- one sink -----------------------------------------------------------------------------

    async def _follow(self, sink: Sink, poll_interval: float) -> None:
        failures = 0
        was_disabled = False
        while not self._stop.is_set():
            try:
                outcome = await self._pump(sink, None)
            except Exception as exc:  # the database, not the sink: wait and read again
                log.warning("sink %s: cannot read the outbox: %s", sink.name, exc)
                await self._pause(self._backoff.delay(failures, rng=self._rng))
                failures += 1
                continue
            failures = 0
            disabled = outcome is _Outcome.DISABLED
            if disabled and not was_disabled:
                # Still polled (one read per interval), so re-enabling takes effect at once.
                log.warning("sink %s is disabled; it is skipped until enabled", sink.name)
            was_disabled = disabled
            await self._pause(poll_interval)

    async def _pump(self, sink: Sink, deadline: float | None) -> _Outcome:
        """Deliver the events after the sink's cursor until the outbox is exhausted."""
        async with self._passes[sink.name]:
            return await self._pass(sink, deadline)

    async def _pass(self, sink: Sink, deadline: float | None) -> _Outcome:
        state = await self._db(self._store.sink_cursor, sink.name)
        if state.disabled:
            return _Outcome.DISABLED
        cursor = state.cursor
        while True:
            if self._stop.is_set():
                return _Outcome.BEHIND
            events = await self._db(self._store.events_after, cursor, self._batch)
            if not events:
                return _Outcome.CAUGHT_UP
            for event in coalesce_progress(events):
                if self._stop.is_set() or self._past(deadline):
                    return _Outcome.BEHIND
                outcome = await self._deliver(sink, event, deadline)
                if outcome is not None:
                    return outcome
            # The last event of a chunk is never coalesced away, so it was just committed.
            cursor = events[-1].id

    async def _deliver(
        self, sink: Sink, event: EventRow, deadline: float | None
    ) -> _Outcome | None:
        """Deliver one event, retrying while the destination is unavailable; None once it is
        delivered or refused (the cursor is past it), else why this pass ends."""
        attempt = 0
        while True:
            item = SinkEvent(
                event=event,
                job=await self._db(self._store.get_job, event.job_id),
                assets=await self._db(self._store.assets, event.job_id),
                origin=self._origin,
            )
            try:
                await sink.deliver(item)
            except SinkDisabledError as exc:
                await self._db(self._store.disable_sink, sink.name, f"event {event.id}: {exc}")
                log.warning("sink %s disabled by its destination: %s", sink.name, exc)
                return _Outcome.DISABLED
            except SinkRejectedError as exc:
                message = f"event {event.id} refused: {exc}"
                await self._db(
                    self._store.advance_sink, sink.name, event.id, skipped=1, error=message
                )
                log.warning("sink %s: %s", sink.name, message)
                return None
            except SinkUnavailableError as exc:
                retry_after, message = exc.retry_after, str(exc)
            except Exception as exc:  # a sink's own bug is retried like an outage, never lost
                log.exception("sink %s failed on event %s", sink.name, event.id)
                retry_after, message = None, f"{type(exc).__name__}: {exc}"
            else:
                await self._db(self._store.advance_sink, sink.name, event.id, delivered=1)
                return None
            await self._db(self._store.record_sink_error, sink.name, f"event {event.id}: {message}")
            wait = self._backoff.delay(attempt, retry_after=retry_after, rng=self._rng)
            attempt += 1
            if deadline is not None:
                # Close to the deadline, wait only until it and try a last time: a destination
                # back up by then still gets the event.
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return _Outcome.BEHIND
                wait = min(wait, remaining)
            log.info("sink %s: event %s retried in %.1f s: %s", sink.name, event.id, wait, message)
            if not await self._pause(wait):
                return _Outcome.BEHIND

    # -- helpers ------------------------------------------------------------------------------

    def _past(self, deadline: float | None) -> bool:
        return deadline is not None and self._clock() >= deadline

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless stopped first; False when stopped."""
        if self._stop.is_set():
            return False
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
            await asyncio.gather(sleeper, stopper, return_exceptions=True)
        return not self._stop.is_set()

    @staticmethod
    async def _db(function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        # The store is synchronous; a busy database must not block the other sinks.
        return await asyncio.to_thread(function, *args, **kwargs)
