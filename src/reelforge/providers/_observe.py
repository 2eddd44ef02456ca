"""Observers of provider requests: what was asked of which provider, how it was answered, and
how long the answer took (``reelforge serve``'s metrics subscribe; providers know nothing of
them).

Every request a :class:`~reelforge.providers._http.Session` sends is reported once per attempt
to each observer registered with :func:`observe_requests`. An observer must be quick and must
not raise (one that does is logged and skipped).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RequestObserver", "RequestSeen", "notify", "observe_requests"]

log = logging.getLogger("reelforge.providers")


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestSeen:
    """One attempt of one request to a provider."""

    provider: str
    """The provider's registry name (``openai``, ``fal``…)."""
    operation: str
    """What was asked: ``create`` for a create, else the action (``fetch``, ``list``,
    ``delete``, ``cancel``, ``read``…)."""
    status: str
    """The HTTP status code answered, or ``error`` when no answer came (connection, timeout)."""
    seconds: float
    """From sending the request to the answer's headers (or the failure)."""


RequestObserver = Callable[[RequestSeen], None]
_observers: list[RequestObserver] = []


def observe_requests(observer: RequestObserver) -> Callable[[], None]:
    """Report every provider request to ``observer`` from now on; returns the function that
    stops it. Registering the same observer twice reports to it once."""
    if observer not in _observers:
        _observers.append(observer)

    def stop() -> None:
        if observer in _observers:
            _observers.remove(observer)

    return stop


def notify(seen: RequestSeen) -> None:
    """Tell every observer about ``seen``."""
    for observer in tuple(_observers):
        try:
            observer(seen)
        except Exception:  # an observer's bug never fails a request
            log.warning("a request observer failed", exc_info=True)
