"""The :class:`SinkRunner`: reads the outbox after each sink's cursor and delivers, durably.

Each sink runs on its own: its own task, its own cursor in the ``sink_cursors`` table, its own
backoff. The cursor is the only state, committed after every delivered (or refused) event, so
a process that stops at any point continues where it stopped: at most the one event that was
in flight is delivered again, which sinks handle idempotently.

One runner at a time delivers a sink, across processes: a pass over the outbox holds the sink's
lease in the database (``sink_leases``; see :class:`SinkRunner`).
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
from reelforge.store import EventKind, EventRow, Store, lease_owner

__all__ = [
    "DEFAULT_DELIVERY_TIMEOUT",
    "LEASE_TTL",
    "Backoff",
    "SinkRunner",
    "coalesce_progress",
]

log = logging.getLogger("reelforge.sinks")

DEFAULT_DELIVERY_TIMEOUT = 60.0
"""Seconds one delivery may take, whatever the destination does (a trickling answer, a long
``Retry-After`` pause inside the sink), before it is cut short and retried later."""
LEASE_TTL = 120.0
"""Seconds a sink's lease lasts unless renewed (it is renewed before every delivery attempt)."""
_LEASE_POLL = 1.0
"""Seconds ``drain`` waits before asking again for a lease another runner holds."""
_LAST_TRY = 5.0
"""Near a deadline, the last retry starts this long before it (or ``delivery_timeout``, if
shorter), so it has the time to finish."""

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
    BUSY = "busy"
    """Another runner (most likely another process) holds the sink's lease."""


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

    **One runner per sink, across processes.** Each pass over a sink's outbox holds the sink's
    lease, a row in ``sink_leases`` naming this runner (``host:pid:nonce``) for ``lease_ttl``
    seconds: taken at the start of the pass, renewed before every delivery attempt (so after
    every backoff wait), released at its end. A runner that cannot get the lease delivers
    nothing to that sink: :meth:`run_forever` asks again at its next poll, :meth:`drain` every
    second until its deadline. A lease that expired is taken over, and so is one whose owner
    was a process on this host that no longer exists (killed with ``-9``), at once; a renewal
    that finds the lease lost ends the pass.

    **Every delivery is bounded.** ``sink.deliver`` runs under a timeout: ``delivery_timeout``
    seconds (shorter than ``lease_ttl``), less if ``drain``'s deadline comes first, and
    :meth:`stop` cuts it short at once. A delivery cut short counts as the destination being
    unavailable: the cursor stays, and the event is sent again later. The timeout is measured
    on the event loop's clock, not ``clock``.
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
        delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT,
        lease_ttl: float = LEASE_TTL,
    ) -> None:
        names = [sink.name for sink in sinks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"two sinks share a name (and so a cursor): {', '.join(duplicates)}")
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        if not 0 < delivery_timeout < lease_ttl:
            # A delivery starts right after a renewal: it must end before the lease can lapse.
            raise ValueError(
                f"delivery_timeout must be positive and shorter than lease_ttl ({lease_ttl:g} s), "
                f"not {delivery_timeout:g}"
            )
        self._store = store
        self._sinks = tuple(sinks)
        self._batch = batch
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._delivery_timeout = delivery_timeout
        self._lease_ttl = lease_ttl
        self._owner = lease_owner()
        self._in_flight: set[asyncio.Timeout] = set()
        self._origin = database_origin(store.url)
        self._stop = asyncio.Event()
        self._following = 0
        # One pass per sink at a time, even when drain() runs beside run_forever().
        self._passes = {sink.name: asyncio.Lock() for sink in self._sinks}

    @property
    def sinks(self) -> tuple[Sink, ...]:
        """The sinks, in the order given."""
        return self._sinks

    @property
    def owner(self) -> str:
        """This runner's name in the sinks' leases (``host:pid:nonce``)."""
        return self._owner

    def stop(self) -> None:
        """Ask :meth:`run_forever` and :meth:`drain` to return soon: the delivery under way is
        cut short (its event is sent again later), waits end, leases are released. Once they
        have returned, the runner can be started again (a final :meth:`drain` after stopping
        ``run_forever`` works)."""
        self._stop.set()
        if self._in_flight:
            now = asyncio.get_running_loop().time()
            for scope in self._in_flight:
                scope.reschedule(now)

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
        by which it returns: no delivery or retry starts after it, and one under way is cut
        short at it. None waits as long as it takes.

        A sink another runner is delivering (it holds the lease) is waited for, then drained.
        A disabled sink has not caught up. A database error is raised once every sink's pass
        has ended.
        """
        try:
            results = await asyncio.gather(
                *(self._drain_one(sink, deadline) for sink in self._sinks),
                return_exceptions=True,
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
        was_disabled = was_busy = False
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
            busy = outcome is _Outcome.BUSY
            if busy and not was_busy:
                log.info("sink %s is being delivered by another runner; asking again", sink.name)
            was_busy = busy
            await self._pause(poll_interval)

    async def _drain_one(self, sink: Sink, deadline: float | None) -> _Outcome:
        """One sink's pass for :meth:`drain`, waiting for the lease while another runner has it."""
        logged = False
        while True:
            outcome = await self._pump(sink, deadline)
            if outcome is not _Outcome.BUSY:
                return outcome
            if not logged:
                log.info("sink %s is being delivered by another runner; waiting", sink.name)
                logged = True
            wait = _LEASE_POLL
            if deadline is not None:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return _Outcome.BEHIND
                wait = min(wait, remaining)
            if not await self._pause(wait):
                return _Outcome.BEHIND

    async def _pump(self, sink: Sink, deadline: float | None) -> _Outcome:
        """Deliver the events after the sink's cursor until the outbox is exhausted, holding
        the sink's lease; BUSY when another runner holds it."""
        async with self._passes[sink.name]:
            if self._stop.is_set() or self._past(deadline):
                return _Outcome.BEHIND
            lease = await self._db(
                self._store.acquire_sink_lease, sink.name, self._owner, ttl=self._lease_ttl
            )
            if lease.owner != self._owner:
                return _Outcome.BUSY
            try:
                return await self._pass(sink, deadline)
            finally:
                try:
                    await self._db(self._store.release_sink_lease, sink.name, self._owner)
                except Exception as exc:  # it expires on its own
                    log.warning("sink %s: cannot release its lease: %s", sink.name, exc)

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
            if not await self._db(
                self._store.renew_sink_lease, sink.name, self._owner, ttl=self._lease_ttl
            ):
                log.warning("sink %s: its lease was taken over; this pass ends", sink.name)
                return _Outcome.BUSY
            item = SinkEvent(
                event=event,
                job=await self._db(self._store.get_job, event.job_id),
                assets=await self._db(self._store.assets, event.job_id),
                review=await self._db(self._store.latest_review, event.job_id),
                origin=self._origin,
            )
            try:
                cut = await self._attempt(sink, item, deadline)
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
                if cut is None:
                    await self._db(self._store.advance_sink, sink.name, event.id, delivered=1)
                    return None
                retry_after, message = None, cut
            await self._db(self._store.record_sink_error, sink.name, f"event {event.id}: {message}")
            wait = self._backoff.delay(attempt, retry_after=retry_after, rng=self._rng)
            attempt += 1
            if deadline is not None:
                # Close to the deadline, retry early enough for a last attempt to finish before
                # it: a destination back up by then still gets the event.
                last_try = min(self._delivery_timeout, _LAST_TRY)
                remaining = deadline - self._clock()
                if remaining <= last_try:
                    return _Outcome.BEHIND
                wait = min(wait, remaining - last_try)
            log.info("sink %s: event %s retried in %.1f s: %s", sink.name, event.id, wait, message)
            if not await self._pause(wait):
                return _Outcome.BEHIND

    async def _attempt(self, sink: Sink, item: SinkEvent, deadline: float | None) -> str | None:
        """Run ``sink.deliver(item)`` under the delivery timeout; None when it returned, else
        why it was cut short (the deadline, the timeout, or :meth:`stop`). The sink's own
        errors pass through."""
        limit = self._delivery_timeout
        if deadline is not None:
            limit = min(limit, deadline - self._clock())
        if self._stop.is_set():
            return "not sent: the runner is stopping"
        if limit <= 0:
            return "not sent: the deadline has passed"
        scope = asyncio.timeout(limit)
        try:
            async with scope:
                self._in_flight.add(scope)
                try:
                    await sink.deliver(item)
                finally:
                    self._in_flight.discard(scope)
        except TimeoutError:
            if not scope.expired():
                raise  # the sink's own timeout: a failure like any other
            if self._stop.is_set():
                return "delivery cut short: the runner is stopping"
            if limit < self._delivery_timeout:
                return f"delivery cut short by the deadline after {limit:.1f} s"
            return f"no answer within {self._delivery_timeout:g} s"
        return None

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
