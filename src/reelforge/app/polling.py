"""How often to ask a provider about a job (a simple policy; the durable engine adapts further)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from reelforge.core.models import RemoteStatus

__all__ = ["PollPolicy"]


@dataclass(frozen=True, kw_only=True, slots=True)
class PollPolicy:
    """Poll delays between ``floor`` and ``ceiling`` seconds, giving up after ``timeout``.

    The server's ``openai-poll-after-ms`` hint wins when present; otherwise the delay is
    ``interval``. ``jitter`` spreads many pollers apart (a fraction of the delay).
    """

    interval: float = 5.0
    floor: float = 0.2
    ceiling: float = 30.0
    timeout: float = 3600.0
    jitter: float = 0.1

    def next_delay(self, status: RemoteStatus, rng: random.Random | None = None) -> float:
        """Seconds to wait before asking about ``status``'s job again."""
        base = status.poll_after if status.poll_after is not None else self.interval
        delay = min(self.ceiling, max(self.floor, base))
        if self.jitter:
            delay *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return delay
