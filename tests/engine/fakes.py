"""A hand-driven clock and an in-memory provider that keeps its own ground truth.

The provider records every create it performed, so a test can tell "created twice" from
"asked twice", and the state of each remote job moves only when the test says so. It reaches
the network crash points a real adapter reaches (``after_post_sent`` once a create has been
made, ``mid_download`` with part of an asset on disk).
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import NoReturn

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
    "CreateAnswer",
    "FakeClock",
    "FakeProvider",
    "Fault",
    "RemoteJob",
    "asset_bytes",
    "asset_sha256",
]

PROVIDER_NAME = "fake"
RATE_LIMIT_RETRY_AFTER = 2.0
"""What the fake's 429 asks the caller to wait, in seconds."""


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


_FETCH = (Fault.FETCH_RATE_LIMITED, Fault.FETCH_UNREACHABLE, Fault.FETCH_MALFORMED)
_LIST = (Fault.LIST_UNREACHABLE, Fault.LIST_MALFORMED)
_DOWNLOAD = (Fault.DOWNLOAD_DROPPED,)


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

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.jobs: dict[str, RemoteJob] = {}
        self.creates: list[RemoteJob] = []
        """Every create performed, in order: the ground truth for "submitted exactly once"."""
        self.create_calls: list[tuple[JobSpec, CreateAnswer]] = []
        """Every create request received, and how it was answered."""
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

    async def submit(self, spec: JobSpec) -> RemoteStatus:
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
        job = RemoteJob(
            remote_id=f"video_{len(self.creates) + 1:04d}",
            spec=spec,
            created_at=self.clock.now(),
        )
        self.jobs[job.remote_id] = job
        self.creates.append(job)
        if self.instant:
            self.complete(job.remote_id)
        crash_point(CrashPoint.AFTER_POST_SENT)
        if answer is CreateAnswer.AMBIGUOUS_CREATED:
            raise AmbiguousSubmissionError("the request timed out after it was sent")
        return job.status()

    async def fetch(self, remote_id: str) -> RemoteStatus:
        fault = self._fault(_FETCH)
        if fault is Fault.FETCH_RATE_LIMITED:
            self._raise(RateLimitedError("slow down", status_code=429, retry_after=1.0))
        if fault is Fault.FETCH_UNREACHABLE:
            self._raise(TransientError("connection refused"))
        if fault is Fault.FETCH_MALFORMED:
            self._raise(ProtocolError("the status is not JSON", status_code=200))
        try:
            return self.jobs[remote_id].status()
        except KeyError:
            raise NotFoundError(f"no video {remote_id}", status_code=404) from None

    async def list_recent(self, *, since: float | None = None) -> AsyncIterator[RemoteStatus]:
        fault = self._fault(_LIST)
        if fault is Fault.LIST_UNREACHABLE:
            self._raise(TransientError("connection refused"))
        if fault is Fault.LIST_MALFORMED:
            self._raise(ProtocolError("the list is not JSON", status_code=200))
        visible_before = self.clock.now() - self.list_lag
        for job in sorted(self.jobs.values(), key=lambda j: j.created_at, reverse=True):
            if (since is None or job.created_at >= since) and job.created_at <= visible_before:
                yield job.status()

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
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
            if self._fault(_DOWNLOAD) is not None:
                self._raise(DownloadError(f"the download of {remote_id} dropped part-way"))
            fh.write(data[half:])
        os.replace(part, dest)
        return DownloadResult(
            variant=variant,
            path=dest,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )

    async def delete(self, remote_id: str) -> None:
        job = self.jobs.get(remote_id)
        if job is None:
            raise NotFoundError(f"no video {remote_id}", status_code=404)
        job.state = RemoteState.CANCELED
