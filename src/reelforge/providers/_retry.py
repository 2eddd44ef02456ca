"""Retry policy: how many attempts, how long to back off, how far to trust ``Retry-After``."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["RetryPolicy", "retry_after_seconds"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """How a provider retries a failed request.

    Delays grow as ``base_delay * 2**n`` up to ``max_delay``, each shortened by a random
    fraction of at most ``jitter``. A server's ``Retry-After`` wins over the computed delay while
    it is at most ``max_retry_after`` seconds; beyond that the error is raised at once so the
    caller (the engine, with durable sleep) waits instead of a process holding a request open.
    """

    max_attempts: int = 4
    """Attempts per call, the first one included (1 disables retries)."""
    base_delay: float = 0.5
    """Delay before the second attempt, in seconds."""
    max_delay: float = 8.0
    """Longest computed delay, in seconds."""
    jitter: float = 0.25
    """Largest fraction a delay is randomly shortened by (0 disables jitter)."""
    max_retry_after: float = 120.0
    """Longest server-requested wait honoured in-process, in seconds."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.base_delay <= self.max_delay:
            raise ValueError("delays must satisfy 0 <= base_delay <= max_delay")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.max_retry_after < 0:
            raise ValueError("max_retry_after must not be negative")

    def backoff(self, failures: int, rng: random.Random) -> float:
        """The delay after ``failures`` consecutive failed attempts (1 for the first)."""
        exponent = max(0, failures - 1)
        delay = min(self.max_delay, self.base_delay * 2.0 ** min(exponent, 62))
        return delay * (1.0 - self.jitter * rng.random())


_MAX_HEADER_SECONDS = 10.0 * 365 * 24 * 3600  # anything longer is nonsense, not a wait


def retry_after_seconds(headers: httpx.Headers, now: float) -> float | None:
    """The wait a response asks for: ``retry-after-ms``, else ``retry-after`` (seconds or an HTTP
    date, relative to ``now``). ``None`` when absent or unreadable; never negative."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        value = _finite(raw_ms)
        if value is not None:
            return min(max(0.0, value / 1000.0), _MAX_HEADER_SECONDS)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    value = _finite(raw)
    if value is None:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        value = when.timestamp() - now
    return min(max(0.0, value), _MAX_HEADER_SECONDS)


def _finite(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
