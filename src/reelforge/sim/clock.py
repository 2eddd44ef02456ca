"""Scaled time: the simulator's view of a clock, running ``time_scale`` times faster.

Server-side timestamps (``created_at``, ``completed_at``, ``expires_at``) are the given clock's
(real) time, so a client comparing them with its own clock sees consistent values. Durations are
decided in *simulated* seconds and divided by ``time_scale`` to get real seconds.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["NowClock", "SimClock"]


class NowClock(Protocol):
    """Anything with ``now()`` returning Unix seconds (e.g. :class:`reelforge.core.SystemClock`)."""

    def now(self) -> float:
        """Unix time in seconds."""
        ...


class _WallClock:
    def now(self) -> float:
        return time.time()


class SimClock:
    """Reads the base clock, plus any offset added with :meth:`advance`."""

    def __init__(self, base: NowClock | None, time_scale: float) -> None:
        self._base: NowClock = base if base is not None else _WallClock()
        self.time_scale = time_scale
        self._offset = 0.0

    def now(self) -> float:
        """The current (real) time as the simulator sees it, in Unix seconds."""
        return self._base.now() + self._offset

    def real(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulated time take."""
        return sim_seconds / self.time_scale

    def advance(self, sim_seconds: float) -> None:
        """Move the simulator's time forward by ``sim_seconds`` of *simulated* time."""
        if sim_seconds < 0:
            raise ValueError("time only moves forward")
        self._offset += self.real(sim_seconds)
