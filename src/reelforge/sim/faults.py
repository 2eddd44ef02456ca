"""Seeded fault injection and the per-key request limiter.

Each kind of fault draws from its own seeded random stream, and only when its rate is above
zero, so turning one fault on never changes when another one fires.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from reelforge.core.models import Variant
from reelforge.sim.config import FaultConfig
from reelforge.sim.protocol import ApiError, retry_headers, server_error

__all__ = ["FaultInjector", "RequestLimiter"]

_RATE_LIMIT_MESSAGE = "Rate limit reached for requests. Please try again in {wait}."
_CONCURRENCY_MESSAGE = (
    "You have exceeded the maximum number of concurrent video jobs ({limit}). "
    "Wait for a job to finish before creating another."
)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def rate_limited(retry_after: float, fault: str | None, message: str | None = None) -> ApiError:
    """A 429 in the protocol's words with ``retry-after`` and ``retry-after-ms``."""
    return ApiError(
        status=429,
        message=message or _RATE_LIMIT_MESSAGE.format(wait=_duration(retry_after)),
        type="requests",
        code="rate_limit_exceeded",
        headers=retry_headers(retry_after),
        fault=fault,
    )


class FaultInjector:
    """Decides, per request, which configured fault (if any) fires."""

    def __init__(self, config: FaultConfig, seed: int, started: float) -> None:
        self.config = config
        self.started = started
        self._seed = seed
        self._streams: dict[str, random.Random] = {}
        self._downloads: Counter[tuple[str, Variant]] = Counter()

    def _draw(self, name: str, rate: float) -> bool:
        if rate <= 0:
            return False
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = random.Random(f"{self._seed}:fault:{name}")
        return stream.random() < rate

    def rate_limit(self, now: float) -> ApiError | None:
        """A 429 from a burst window or the random rate, else ``None``."""
        burst = self.config.rate_limit_burst
        if burst is not None:
            phase = (now - self.started) % burst.every
            if phase >= burst.every - burst.length:
                wait = burst.every - phase
                return rate_limited(wait, "rate_limit_burst")
        if self._draw("rate_limit", self.config.rate_limit_rate):
            return rate_limited(self.config.retry_after, "rate_limited")
        return None

    def slow(self) -> float:
        """Seconds to delay this response (0 for none)."""
        if self._draw("slow", self.config.slow_rate):
            return self.config.slow_seconds
        return 0.0

    def server_error(self) -> ApiError | None:
        """A 5xx for a non-create request, or ``None``."""
        if self._draw("server_error", self.config.server_error_rate):
            return server_error(
                self.config.server_error_status, "server_error", self.config.retry_after
            )
        return None

    def error_before_create(self) -> ApiError | None:
        """A 5xx answered instead of creating the job, or ``None``."""
        if self._draw("error_before_create", self.config.error_before_create_rate):
            return server_error(
                self.config.server_error_status, "error_before_create", self.config.retry_after
            )
        return None

    def error_after_create(self) -> ApiError | None:
        """A 5xx answered although the job was created, or ``None``."""
        if self._draw("error_after_create", self.config.error_after_create_rate):
            return server_error(
                self.config.server_error_status, "error_after_create", self.config.retry_after
            )
        return None

    def too_many_in_flight(self, in_flight: int) -> ApiError | None:
        """A 429 when a key already has ``max_in_flight`` jobs queued or running."""
        limit = self.config.max_in_flight
        if limit is None or in_flight < limit:
            return None
        error = rate_limited(
            self.config.retry_after,
            "max_in_flight",
            _CONCURRENCY_MESSAGE.format(limit=limit),
        )
        error.code = "too_many_concurrent_jobs"
        return error

    def drop_download(self, video_id: str, variant: Variant) -> bool:
        """Whether this download of an asset is cut off part-way."""
        key = (video_id, variant)
        attempt = self._downloads[key]
        self._downloads[key] += 1
        if attempt < self.config.drop_download_first:
            return True
        return self._draw("drop_download", self.config.drop_download_rate)


@dataclass(slots=True)
class _Window:
    start: float
    count: int


class RequestLimiter:
    """A fixed one-minute window of requests per API key, as in the ``x-ratelimit-*`` headers."""

    WINDOW = 60.0

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._windows: dict[str, _Window] = {}

    def hit(self, api_key_id: str, now: float) -> tuple[dict[str, str], ApiError | None]:
        """Count one request; return the headers to send and a 429 if the window is full."""
        window = self._windows.get(api_key_id)
        if window is None or now - window.start >= self.WINDOW:
            window = self._windows[api_key_id] = _Window(start=now, count=0)
        reset = max(0.0, window.start + self.WINDOW - now)
        error = None
        if window.count >= self.limit:
            error = rate_limited(reset, "requests_per_minute")
            error.fault = None  # a real limit, not an injected fault
        else:
            window.count += 1
        headers = {
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(max(0, self.limit - window.count)),
            "x-ratelimit-reset-requests": _duration(reset),
        }
        return headers, error
