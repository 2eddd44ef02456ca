"""What the durable steps need at run time, held per process.

Workflow arguments are stored in the database, so they carry only a job id. Everything else
— the store, the provider of each account (with its key, which is never stored), the clock and
the policies — lives here, set by :class:`reelforge.engine.Engine` before DBOS is launched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reelforge.core.clock import Clock
from reelforge.core.errors import ConfigError
from reelforge.core.polling import PollPolicy
from reelforge.core.pricing import PriceTable
from reelforge.engine.reconcile import ReconcilePolicy
from reelforge.providers.base import Provider
from reelforge.store import Store

__all__ = ["Durations", "EngineContext", "current", "install", "uninstall"]


@dataclass
class Durations:
    """How long jobs of each kind took from creation to completion (a moving average).

    Only a guide for blind polls: not durable, and wrong guesses cost one extra request.
    """

    weight: float = 0.3
    _seen: dict[tuple[str, int, str], float] = field(default_factory=dict)

    def record(self, model: str, seconds: int, size: str, took: float) -> None:
        key = (model, seconds, size)
        old = self._seen.get(key)
        self._seen[key] = took if old is None else old + self.weight * (took - old)

    def expected(self, model: str, seconds: int, size: str) -> float | None:
        return self._seen.get((model, seconds, size))


@dataclass(frozen=True, kw_only=True)
class EngineContext:
    """Everything a step reads besides its job id."""

    store: Store
    providers: Mapping[str, Provider]
    clock: Clock
    poll: PollPolicy
    reconcile: ReconcilePolicy
    prices: PriceTable
    durations: Durations = field(default_factory=Durations)
    observed: dict[tuple[str, str], bool] = field(default_factory=dict)
    """Endpoint capabilities this process has recorded, by (account, capability): each is
    written to the store only when it changes."""
    pushed: frozenset[str] = frozenset()
    """Accounts whose provider pushes job completions to reelforge's webhook receiver: their
    jobs are polled only as a safety net (:attr:`PollPolicy.safety_net`)."""
    simulated: frozenset[str] = frozenset()
    """Accounts served by the built-in simulator, whose clock runs faster than real time: a
    model's typical render time says nothing about them."""

    def provider(self, account: str) -> Provider:
        """The provider for ``account``; a clear error if this process was not given its key."""
        try:
            return self.providers[account]
        except KeyError:
            raise ConfigError(
                f"this process has no credentials for provider account {account!r}: run again "
                "with the base URL and API key the job was submitted with"
            ) from None


_CURRENT: EngineContext | None = None


def install(context: EngineContext) -> None:
    """Make ``context`` the one the steps of this process use."""
    global _CURRENT  # noqa: PLW0603  # one engine per process, as DBOS itself
    _CURRENT = context


def uninstall() -> None:
    """Forget the current context."""
    global _CURRENT  # noqa: PLW0603  # see install
    _CURRENT = None


def current() -> EngineContext:
    """The context of this process; raises if no engine is running."""
    if _CURRENT is None:
        raise RuntimeError("no reelforge engine is running in this process")
    return _CURRENT
