"""When to ask a provider about a job again: the adaptive poll policy (DESIGN section 7).

The server's hint (``openai-poll-after-ms``) is the earliest next check. The finish time is
estimated from the progress rate seen so far (or, with nothing better, from how long similar
jobs took), and the next check is aimed just past it — between a floor and a ceiling, with
jitter so that many pollers spread out (a check the hint decides is never made sooner than
the hint, and at most a quarter of the jitter later). The policy is pure: it reads
observations and returns seconds, so it is tested without waiting.

A job whose provider pushes its completion (webhooks on: ``reelforge serve`` wakes the job's
workflow when the provider says it ended) is polled only as a safety net, every
``safety_net`` seconds (a quarter of the job's timeout at most), in case a webhook is lost.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Observation", "PollPolicy"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Observation:
    """One status check: when, and how far along the job was (0-100)."""

    at: float
    progress: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PollPolicy:
    """Poll delays in seconds, and how long to wait for a job at all.

    ``first`` is the first delay when nothing is known; later blind delays double. ``margin``
    aims a little past the estimated finish, so the check usually finds the job done.
    ``safety_net`` is the least delay between checks of a job whose provider pushes its
    completion by webhook (bounded by a quarter of ``timeout``): longer than most jobs take,
    so a job is usually checked once, when its webhook wakes it; a lost webhook delays it by
    at most this long (providers retry their deliveries for hours).
    """

    first: float = 5.0
    floor: float = 0.25
    ceiling: float = 60.0
    timeout: float = 3600.0
    jitter: float = 0.1
    margin: float = 0.05
    safety_net: float = 300.0

    def next_delay(
        self,
        history: Sequence[Observation],
        *,
        hint: float | None = None,
        started_at: float | None = None,
        expected: float | None = None,
        rng: random.Random | None = None,
        pushed: bool = False,
    ) -> float:
        """Seconds until the next check of a job observed as ``history`` (oldest first).

        ``hint`` is the server's poll-after hint, ``started_at`` when the job was created on
        the provider, ``expected`` how long similar jobs took from creation to completion.
        ``pushed``: the provider pushes the job's completion, so this check is only the safety
        net (at least :attr:`safety_net` seconds away, or a quarter of the timeout if less).
        """
        estimate = self._estimate(history, hint=hint, started_at=started_at, expected=expected)
        delay = min(self.ceiling, max(self.floor, estimate))
        if pushed:
            delay = max(delay, min(self.safety_net, self.timeout / 4))
        if self.jitter:
            if hint is not None and estimate == hint and not pushed:
                # The server said when: never sooner, and only a little later (enough that
                # pollers given the same hint do not ask in step).
                delay *= 1 + (rng or random).uniform(0.0, self.jitter / 4)
            else:
                delay *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, delay)

    def _estimate(
        self,
        history: Sequence[Observation],
        *,
        hint: float | None,
        started_at: float | None,
        expected: float | None,
    ) -> float:
        precise = _remaining_by_rate(history, None) if history else None
        if hint is not None:
            # The hint is the earliest the server wants to be asked; a measured progress rate
            # may say the job needs longer than that, and then asking sooner is wasted.
            return max(hint, precise * (1 + self.margin)) if precise is not None else hint
        if not history:
            # Aimed at when jobs like this one finish, but a job given a short timeout is
            # looked at within the first quarter of it.
            return min(expected, self.timeout / 4) if expected is not None else self.first
        last = history[-1]
        # Without a hint, a rate measured from the (whole-second) creation time beats guessing.
        remaining = precise if precise is not None else _remaining_by_rate(history, started_at)
        if remaining is not None:
            return remaining * (1 + self.margin)
        if expected is not None and started_at is not None:
            left = started_at + expected * (1 + self.margin) - last.at
            if left > 0:
                return left
        # Nothing to go on: back off geometrically from ``first``.
        return self.first * float(2 ** max(0, len(history) - 1))


def _remaining_by_rate(history: Sequence[Observation], started_at: float | None) -> float | None:
    """Seconds until 100 % at the progress rate seen so far, if there is a rate to go on."""
    last = history[-1]
    if last.progress <= 0 or last.progress >= 100:
        return None
    moving = [obs for obs in history if 0 < obs.progress < 100]
    if (
        len(moving) >= 2
        and moving[-1].at > moving[0].at
        and moving[-1].progress > moving[0].progress
    ):
        rate = (moving[-1].progress - moving[0].progress) / (moving[-1].at - moving[0].at)
    elif started_at is not None and last.at > started_at:
        rate = last.progress / (last.at - started_at)
    else:
        return None
    return (100 - last.progress) / rate
