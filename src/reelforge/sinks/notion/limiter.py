"""An async rate limiter: at most ``burst`` requests in any ``burst / rate`` seconds.

With the defaults (3 per second, bursts of 3) any window of ``T`` seconds holds at most
``3 · ceil(T)`` requests, so the average over every 10-second window stays at or below Notion's
3 requests per second while a short burst still goes out at once. A server's ``Retry-After``
pauses every caller through :meth:`RateLimiter.pause`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from reelforge.core.clock import Clock

__all__ = ["RateLimiter"]


class RateLimiter:
    """A sliding-window limiter shared by every request of a sink (first come, first served)."""

    def __init__(self, rate: float = 3.0, *, burst: int = 3, clock: Clock | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self._period = burst / rate
        self._clock: Clock = clock if clock is not None else _Monotonic()
        self._sent: deque[float] = deque(maxlen=burst)
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more request may go out, and count it."""
        async with self._lock:
            while True:
                now = self._clock.now()
                wait = self._paused_until - now
                if len(self._sent) == self.burst:
                    wait = max(wait, self._sent[0] + self._period - now)
                if wait <= 0:
                    self._sent.append(now)
                    return
                await self._clock.sleep(wait)

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a server's ``Retry-After``)."""
        self._paused_until = max(self._paused_until, self._clock.now() + max(0.0, seconds))


class _Monotonic:
    """The real clock, immune to wall-clock jumps."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
