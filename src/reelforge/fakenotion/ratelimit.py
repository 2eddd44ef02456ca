"""A token bucket per bearer token: ``rate`` requests per second on average, ``burst`` at once."""

from __future__ import annotations

import math
import threading

__all__ = ["TokenBuckets"]


class TokenBuckets:
    """One bucket per key (a token hash); :meth:`take` answers ``None`` or the seconds to wait."""

    def __init__(self, rate: float, burst: int) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self.rate = rate
        self.burst = burst

    def configure(self, rate: float, burst: int) -> None:
        """Change the rate and burst; buckets start full again."""
        with self._lock:
            self.rate = rate
            self.burst = burst
            self._buckets.clear()

    def take(self, key: str, now: float) -> int | None:
        """Spend one request of ``key``'s bucket at ``now``; if empty, whole seconds to wait."""
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))
