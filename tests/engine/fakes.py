"""A hand-driven clock and an in-memory provider that keeps its own ground truth.

The provider records every create it performed, so a test can tell "created twice" from
"asked twice", and the state of each remote job moves only when the test says so. It reaches
the network crash points a real adapter reaches (``after_post_sent`` once a create has reached
it, ``mid_download`` with part of an asset on disk), and lets other callers run at each request
(two owners of one job interleave there).

Time is the clock's: :meth:`FakeClock.run` runs a coroutine on an event loop that jumps the
clock to its next timer instead of sleeping, so a create that hangs until the engine's
``asyncio.timeout`` gives up costs no real time.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import selectors
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from reelforge.core.capabilities import ModelCapabilities, capabilities_for
from reelforge.core.errors import (
    AmbiguousSubmissionError,
    AssetExpiredError,
    DownloadError,
    ErrorCategory,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    TransientError,
)
from reelforge.core.models import (
    DownloadResult,
    JobSpec,
    RemoteError,
    RemoteState,
    RemoteStatus,
    Variant,
)
from reelforge.engine.crash import CrashPoint, crash_point

__all__ = [
    "CREATING",
    "NOTHING_MADE",
    "NO_ANSWER",
    "CreateAnswer",
    "FakeClock",
    "FakeProvider",
    "Fault",
    "Read",
    "ReadAnswer",
    "RemoteJob",
    "asset_bytes",
    "asset_sha256",
]

PROVIDER_NAME = "fake"
RATE_LIMIT_RETRY_AFTER = 2.0
"""What the fake's 429 asks the caller to wait, in seconds."""
NO_ANSWER = 3600.0
"""Seconds a slow create keeps the caller waiting for its answer (longer than any timeout)."""

_PAST_THE_TIMER = 0.001
"""Seconds the clock jumps past a timer (see :class:`_JumpingSelector`)."""

T = TypeVar("T")


class FakeClock:
    """Unix time that moves only when a test says so; ``sleep`` records and returns at once."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self.value

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def advance(self, seconds: float) -> None:
        self.value += seconds

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to its end on an event loop whose time is this clock's.

        When every task waits for a timer (an ``asyncio.timeout``, an ``asyncio.sleep``), the
        clock jumps to it instead of the loop sleeping; waiting for a thread still blocks.
        """
        with asyncio.Runner(loop_factory=lambda: _ClockLoop(self)) as runner:
            return runner.run(coro)


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that advances the clock by the time the loop would sleep, at once (and a
    millisecond more: at Unix-time magnitudes a float cannot land exactly on the timer, and a
    timer the loop does not find due would make it spin)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            return super().select(None)  # a thread's answer, or nothing ever: real waiting
        self._clock.advance(max(timeout, 0.0) + _PAST_THE_TIMER)
        return []


class _ClockLoop(asyncio.SelectorEventLoop):
    """An event loop on :class:`FakeClock` time (see :meth:`FakeClock.run`)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(_JumpingSelector(clock))
        self._clock = clock

    def time(self) -> float:
        return self._clock.now()


class CreateAnswer(StrEnum):
    """How the fake provider answers the next create request."""

    SUCCEED = "succeed"
    """The job is created and its status returned."""
    AMBIGUOUS_CREATED = "ambiguous_created"
    """The job is created, then the answer is lost (a timeout after sending)."""
    AMBIGUOUS_NOTHING = "ambiguous_nothing"
    """The answer is lost and nothing was created (the request died on the way)."""
    RATE_LIMITED = "rate_limited"
    """429 with a ``Retry-After``: provably nothing created."""
    QUOTA_EXHAUSTED = "quota_exhausted"
    """429 ``insufficient_quota``: nothing created, and waiting will not help."""
    REJECTED = "rejected"
    """400: the request was refused, nothing created."""
    SERVER_ERROR = "server_error"
    """The job is created, then the server answers 500: ambiguous."""
    UNREADABLE = "unreadable"
    """The job is created and the server answers 200 with a body that is not the protocol:
    ambiguous, but the create was accepted (the job is listed once the listing catches up)."""
    SLOW = "slow"
    """The request reaches the provider, which makes the job :attr:`FakeProvider.create_delay`
    seconds later and answers only after :data:`NO_ANSWER` seconds (the caller gives up first)."""
    SLOW_DROPPED = "slow_dropped"
    """The request reaches the provider and the connection drops at once; the provider makes
    the job :attr:`FakeProvider.create_delay` seconds later all the same."""
    SLOW_GATEWAY = "slow_gateway"
    """A gateway answers 504 at once while the request goes on behind it: the provider makes
    the job :attr:`FakeProvider.create_delay` seconds later."""


CREATING = frozenset(
    {
        CreateAnswer.SUCCEED,
        CreateAnswer.AMBIGUOUS_CREATED,
        CreateAnswer.SERVER_ERROR,
        CreateAnswer.UNREADABLE,
        CreateAnswer.SLOW,
        CreateAnswer.SLOW_DROPPED,
        CreateAnswer.SLOW_GATEWAY,
    }
)
"""Answers to a create that made (or will make) a job."""
NOTHING_MADE = frozenset(
    {CreateAnswer.RATE_LIMITED, CreateAnswer.QUOTA_EXHAUSTED, CreateAnswer.REJECTED}
)
"""Answers that prove nothing was created."""
_SLOW = frozenset({CreateAnswer.SLOW, CreateAnswer.SLOW_DROPPED, CreateAnswer.SLOW_GATEWAY})


class Fault(StrEnum):
    """A failure the fake provider injects into one later read (each fires once)."""

    FETCH_RATE_LIMITED = "fetch_rate_limited"
    """The next status check gets a 429."""
    FETCH_UNREACHABLE = "fetch_unreachable"
    """The next status check cannot reach the provider."""
    FETCH_MALFORMED = "fetch_malformed"
    """The next status check gets an answer that is not the protocol."""
    LIST_UNREACHABLE = "list_unreachable"
    """The next listing cannot reach the provider."""
    LIST_MALFORMED = "list_malformed"
    """The next listing gets an answer that is not the protocol."""
    DOWNLOAD_DROPPED = "download_dropped"
    """The next download fails part-way, after its retries."""
    DOWNLOAD_DISK_FULL = "download_disk_full"
    """The next download cannot write its file: the disk is full."""


_FETCH = (Fault.FETCH_RATE_LIMITED, Fault.FETCH_UNREACHABLE, Fault.FETCH_MALFORMED)
_LIST = (Fault.LIST_UNREACHABLE, Fault.LIST_MALFORMED)
_DOWNLOAD = (Fault.DOWNLOAD_DROPPED, Fault.DOWNLOAD_DISK_FULL)


class ReadAnswer(StrEnum):
    """What one status check or listing got."""

    USABLE = "usable"
    UNUSABLE = "unusable"
    """An answer that is not the protocol (:class:`ProtocolError`)."""
    NONE = "none"
    """No answer to go on: unreachable, rate limited, or no such job."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Read:
    """One status check (``fetch``) or listing (``list``), who asked, and what it got."""

    kind: str
    answer: ReadAnswer
    task: asyncio.Task[Any] | None
    """The asyncio task that asked (tells apart callers running at once)."""


@dataclass(kw_only=True)
class RemoteJob:
    """One job as the provider holds it."""

    remote_id: str
    spec: JobSpec
    created_at: float
    state: RemoteState = RemoteState.QUEUED
    progress: int = 0
    completed_at: float | None = None
    expires_at: float | None = None
    error: RemoteError | None = None
    was_completed: bool = False
    """Whether the job ever reached ``completed`` (an expired job may have)."""
    deleted_from: RemoteState | None = None
    """Its state when it was deleted through the API, if it was."""

    def status(self) -> RemoteStatus:
        return RemoteStatus(
            remote_id=self.remote_id,
            state=self.state,
            progress=self.progress,
            model=self.spec.model,
            seconds=self.spec.seconds,
            size=self.spec.size,
            prompt=self.spec.prompt,
            created_at=self.created_at,
            completed_at=self.completed_at,
            expires_at=self.expires_at,
            error=self.error,
            provider_status=self.state.value,
        )


def asset_bytes(remote_id: str, variant: Variant) -> bytes:
    """The deterministic content the fake serves for one asset."""
    return f"{remote_id}/{variant.value}\n".encode() * 16


def asset_sha256(remote_id: str, variant: Variant) -> str:
    return hashlib.sha256(asset_bytes(remote_id, variant)).hexdigest()


class FakeProvider:
    """An in-memory provider implementing :class:`reelforge.providers.base.Provider`."""

    name = PROVIDER_NAME
    base_url = "fake://provider"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._jobs: dict[str, RemoteJob] = {}
        self._creates: list[RemoteJob] = []
        self._coming: list[RemoteJob] = []
        """Jobs of slow creates, made once the clock reaches their ``created_at``."""
        self._received = 0
        self.create_calls: list[tuple[JobSpec, CreateAnswer]] = []
        """Every create request received, and how it was answered."""
        self.create_delay = 40.0
        """Seconds after a slow create reaches the provider until it makes the job."""
        self.reads: list[Read] = []
        """Every status check and listing, in order, with what it got."""
        self.deletes: list[str] = []
        """Every remote job deleted through the API, in order."""
        self.answers: deque[CreateAnswer] = deque()
        """Answers to the next create requests, in order; once used up, creates succeed."""
        self.can_list = True
        self.instant = False
        """Jobs are created already completed (a provider that answers from a cache)."""
        self.list_lag = 0.0
        """Seconds before a new job shows in the listing (listings may lag behind creates)."""
        self.faults: list[Fault] = []
        """Faults waiting for their operation; each fires once, oldest first."""
        self.raised: list[BaseException] = []
        """Every error an injected fault raised (to tell them from the engine's own errors)."""

    @property
    def jobs(self) -> dict[str, RemoteJob]:
        """Every job the provider has made by now, by remote id."""
        self._arrive()
        return self._jobs

    @property
    def creates(self) -> list[RemoteJob]:
        """Every create performed by now, in order: the ground truth for "submitted exactly
        once" (a slow create counts from when its job is made)."""
        self._arrive()
        return self._creates

    def _arrive(self) -> None:
        """Make the jobs of slow creates whose time has come."""
        now = self.clock.now()
        due = sorted((job for job in self._coming if job.created_at <= now), key=_made_at)
        self._coming = [job for job in self._coming if job.created_at > now]
        for job in due:
            self._make(job)

    def _make(self, job: RemoteJob) -> None:
        self._jobs[job.remote_id] = job
        self._creates.append(job)
        if self.instant:
            self.complete(job.remote_id)

    def _read(self, kind: str, answer: ReadAnswer) -> None:
        self.reads.append(Read(kind=kind, answer=answer, task=asyncio.current_task()))

    # -- what the test controls ---------------------------------------------------------------

    def start(self, remote_id: str, progress: int) -> None:
        job = self.jobs[remote_id]
        if job.state in (RemoteState.QUEUED, RemoteState.IN_PROGRESS):
            job.state = RemoteState.IN_PROGRESS
            job.progress = max(job.progress, min(99, progress))

    def complete(self, remote_id: str) -> None:
        job = self.jobs[remote_id]
        if job.state in (RemoteState.QUEUED, RemoteState.IN_PROGRESS):
            job.state = RemoteState.COMPLETED
            job.progress = 100
            job.completed_at = self.clock.now()
            job.expires_at = job.completed_at + 3600.0
            job.was_completed = True

    def fail(self, remote_id: str, category: ErrorCategory) -> None:
        job = self.jobs[remote_id]
        if job.state in (RemoteState.QUEUED, RemoteState.IN_PROGRESS):
            job.state = RemoteState.FAILED
            job.error = RemoteError(
                category=category, message=f"the fake provider failed it ({category.value})"
            )

    def cancel(self, remote_id: str) -> None:
        """Canceled on the provider's side (its dashboard, another client)."""
        job = self.jobs[remote_id]
        if job.state in (RemoteState.QUEUED, RemoteState.IN_PROGRESS):
            job.state = RemoteState.CANCELED

    def expire(self, remote_id: str) -> None:
        """A completed job's assets are gone."""
        job = self.jobs[remote_id]
        if job.state is RemoteState.COMPLETED:
            job.state = RemoteState.EXPIRED
            job.expires_at = self.clock.now()

    def _fault(self, kinds: tuple[Fault, ...]) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault in kinds:
                return self.faults.pop(index)
        return None

    def _raise(self, error: BaseException) -> NoReturn:
        self.raised.append(error)
        raise error

    # -- the Provider protocol ----------------------------------------------------------------

    def capabilities(self, model: str) -> ModelCapabilities:
        return replace(capabilities_for(model), can_list=self.can_list)

    async def submit(
        self, spec: JobSpec, *, token: str | None = None, cancel_after: float | None = None
    ) -> RemoteStatus:
        await asyncio.sleep(0)  # on the network: other callers run
        answer = self.answers.popleft() if self.answers else CreateAnswer.SUCCEED
        self.create_calls.append((spec, answer))
        if answer is CreateAnswer.RATE_LIMITED:
            raise RateLimitedError(
                "too many requests", status_code=429, retry_after=RATE_LIMIT_RETRY_AFTER
            )
        if answer is CreateAnswer.QUOTA_EXHAUSTED:
            raise RateLimitedError(
                "you exceeded your current quota", status_code=429, code="insufficient_quota"
            )
        if answer is CreateAnswer.REJECTED:
            raise InvalidRequestError("the request was refused", status_code=400)
        if answer is CreateAnswer.AMBIGUOUS_NOTHING:
            raise AmbiguousSubmissionError("the connection dropped before an answer")
        self._received += 1
        job = RemoteJob(
            remote_id=f"video_{self._received:04d}", spec=spec, created_at=self.clock.now()
        )
        if answer in _SLOW:
            return await self._slow(job, answer)
        self._make(job)
        crash_point(CrashPoint.AFTER_POST_SENT)
        if answer is CreateAnswer.AMBIGUOUS_CREATED:
            raise AmbiguousSubmissionError("the request timed out after it was sent")
        if answer is CreateAnswer.SERVER_ERROR:
            raise AmbiguousSubmissionError(
                "500 Internal Server Error; the server may have created the video before failing",
                status_code=500,
            )
        if answer is CreateAnswer.UNREADABLE:
            raise AmbiguousSubmissionError(
                "the answer is not JSON; the server accepted the request, so the video may exist",
                status_code=200,
            )
        return job.status()

    async def _slow(self, job: RemoteJob, answer: CreateAnswer) -> RemoteStatus:
        """The request is in: the job is made ``create_delay`` seconds from now, whatever
        happens to the caller (it may be killed here, or give up before the answer)."""
        job.created_at += self.create_delay
        self._coming.append(job)
        crash_point(CrashPoint.AFTER_POST_SENT)
        if answer is CreateAnswer.SLOW_DROPPED:
            raise AmbiguousSubmissionError("the connection dropped before an answer")
        if answer is CreateAnswer.SLOW_GATEWAY:
            raise AmbiguousSubmissionError(
                "504 Gateway Timeout; the server may have created the video before failing",
                status_code=504,
            )
        await asyncio.sleep(NO_ANSWER)
        self._arrive()
        return job.status()

    async def fetch(self, remote_id: str) -> RemoteStatus:
        await asyncio.sleep(0)
        fault = self._fault(_FETCH)
        if fault is not None:
            malformed = fault is Fault.FETCH_MALFORMED
            self._read("fetch", ReadAnswer.UNUSABLE if malformed else ReadAnswer.NONE)
        if fault is Fault.FETCH_RATE_LIMITED:
            self._raise(RateLimitedError("slow down", status_code=429, retry_after=1.0))
        if fault is Fault.FETCH_UNREACHABLE:
            self._raise(TransientError("connection refused"))
        if fault is Fault.FETCH_MALFORMED:
            self._raise(ProtocolError("the status is not JSON", status_code=200))
        job = self.jobs.get(remote_id)
        if job is None:
            self._read("fetch", ReadAnswer.NONE)
            raise NotFoundError(f"no video {remote_id}", status_code=404)
        self._read("fetch", ReadAnswer.USABLE)
        return job.status()

    async def list_recent(self, *, since: float | None = None) -> AsyncIterator[RemoteStatus]:
        await asyncio.sleep(0)
        fault = self._fault(_LIST)
        if fault is not None:
            malformed = fault is Fault.LIST_MALFORMED
            self._read("list", ReadAnswer.UNUSABLE if malformed else ReadAnswer.NONE)
        if fault is Fault.LIST_UNREACHABLE:
            self._raise(TransientError("connection refused"))
        if fault is Fault.LIST_MALFORMED:
            self._raise(ProtocolError("the list is not JSON", status_code=200))
        self._read("list", ReadAnswer.USABLE)
        visible_before = self.clock.now() - self.list_lag
        for job in sorted(self.jobs.values(), key=_made_at, reverse=True):
            if (since is None or job.created_at >= since) and job.created_at <= visible_before:
                yield job.status()

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
        await asyncio.sleep(0)
        job = self.jobs.get(remote_id)
        if job is None:
            raise DownloadError(f"no video {remote_id}")
        if job.state is RemoteState.EXPIRED:
            raise AssetExpiredError(f"the assets of {remote_id} have expired")
        if job.state is not RemoteState.COMPLETED:
            raise DownloadError(f"{remote_id} is {job.state.value}, not completed")
        data = asset_bytes(remote_id, variant)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        half = len(data) // 2
        with part.open("wb") as fh:
            fh.write(data[:half])
            fh.flush()
            crash_point(CrashPoint.MID_DOWNLOAD)
            fault = self._fault(_DOWNLOAD)
            if fault is Fault.DOWNLOAD_DROPPED:
                self._raise(DownloadError(f"the download of {remote_id} dropped part-way"))
            if fault is Fault.DOWNLOAD_DISK_FULL:
                self._raise(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(part)))
            fh.write(data[half:])
        os.replace(part, dest)
        return DownloadResult(
            variant=variant,
            path=dest,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )

    async def delete(self, remote_id: str) -> None:
        await asyncio.sleep(0)
        job = self.jobs.get(remote_id)
        if job is None:
            raise NotFoundError(f"no video {remote_id}", status_code=404)
        self.deletes.append(remote_id)
        job.deleted_from = job.state
        job.state = RemoteState.CANCELED


def _made_at(job: RemoteJob) -> float:
    return job.created_at
