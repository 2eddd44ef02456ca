"""Labelled crash points for the crash tests: ``kill -9`` of this process at an exact moment.

Set ``REELFORGE_CRASH_AT=<point>`` (or ``<point>:<n>`` to crash the n-th time the point is
reached) in a test's environment. Without that variable every function here does nothing, and
no transport wrapper is installed: the product never crashes on purpose.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable
from enum import StrEnum

import httpx

__all__ = ["CRASH_ENV", "CrashPoint", "crash_point", "crash_transport", "set_crash_handler"]

CRASH_ENV = "REELFORGE_CRASH_AT"


class CrashPoint(StrEnum):
    """Where a crash test may kill the process."""

    BEFORE_INTENT = "before_intent"
    """In the submit step, before the intent is committed."""
    AFTER_INTENT = "after_intent"
    """The intent is committed; the create request has not been sent."""
    AFTER_POST_SENT = "after_post_sent"
    """The create request reached the server and it answered; the answer is not read."""
    BEFORE_REMOTE_ID_STORED = "before_remote_id_stored"
    """The answer was read; the remote id is not recorded yet."""
    AFTER_REMOTE_ID_STORED = "after_remote_id_stored"
    """The remote id is recorded; the submit step's result is not (its workflow runs the step
    again when it is recovered)."""
    MID_POLL = "mid_poll"
    """A status was fetched and not recorded yet."""
    MID_DOWNLOAD = "mid_download"
    """Part of an asset's bytes have been received."""


def _configured() -> tuple[CrashPoint, int] | None:
    value = os.environ.get(CRASH_ENV)
    if not value:
        return None
    name, _, count = value.partition(":")
    return CrashPoint(name), int(count or "1")


_hits: dict[CrashPoint, int] = {}


def _kill(point: CrashPoint) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


_handler: Callable[[CrashPoint], None] | None = None


def set_crash_handler(handler: Callable[[CrashPoint], None] | None) -> None:
    """For in-process tests: call ``handler`` at every crash point (it may raise to simulate
    a crash there); ``None`` restores the default (the environment variable, else nothing)."""
    global _handler  # noqa: PLW0603  # a test hook, set once per test
    _handler = handler


def crash_point(point: CrashPoint) -> None:
    """Kill this process with SIGKILL if the environment asks for a crash at ``point`` now."""
    if _handler is not None:
        _handler(point)
        return
    configured = _configured()
    if configured is None or configured[0] is not point:
        return
    _hits[point] = _hits.get(point, 0) + 1
    if _hits[point] >= configured[1]:
        _kill(point)


def crash_transport(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    """Wrap ``inner`` with the network crash points, only if a crash test asked for one."""
    configured = _configured()
    if configured is None or configured[0] not in (
        CrashPoint.AFTER_POST_SENT,
        CrashPoint.MID_DOWNLOAD,
    ):
        return inner
    return _CrashingTransport(inner)


class _CrashingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        path = request.url.path
        if request.method == "POST" and path.endswith("/videos"):
            crash_point(CrashPoint.AFTER_POST_SENT)
        if request.method == "GET" and path.endswith("/content") and response.status_code < 300:
            response.stream = _DyingStream(response.stream)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _DyingStream(httpx.AsyncByteStream):
    """Yields the first chunk, then reaches the ``mid_download`` crash point."""

    def __init__(self, inner: httpx.AsyncByteStream | httpx.SyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._inner, httpx.AsyncByteStream)
        first = True
        async for chunk in self._inner:
            if not first:
                crash_point(CrashPoint.MID_DOWNLOAD)
            first = False
            yield chunk

    async def aclose(self) -> None:
        assert isinstance(self._inner, httpx.AsyncByteStream)
        await self._inner.aclose()
