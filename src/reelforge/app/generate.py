"""One video from prompt to verified files on disk: submit, poll, download, record.

This is the simple, in-memory path behind ``reelforge generate``. Batches run on the durable
engine instead; both share the provider adapter and the output layout.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from reelforge.app.jobfile import StatusEntry, write_job_file
from reelforge.core.capabilities import validate_spec
from reelforge.core.clock import Clock, SystemClock
from reelforge.core.errors import ErrorCategory, RateLimitedError, TransientError
from reelforge.core.models import (
    DownloadResult,
    JobSpec,
    JobState,
    RemoteError,
    RemoteState,
    RemoteStatus,
    Variant,
)
from reelforge.core.polling import Observation, PollPolicy
from reelforge.core.pricing import PriceTable, estimate_cost
from reelforge.providers.base import Provider

__all__ = ["GenerateEvent", "GenerateResult", "Phase", "run_generate"]


class Phase(StrEnum):
    """Where a single-video run is."""

    SUBMITTED = "submitted"
    """The provider accepted the job."""
    STATUS = "status"
    """A new status was observed."""
    DOWNLOADING = "downloading"
    """An asset download started."""
    DOWNLOADED = "downloaded"
    """An asset is on disk and verified."""


@dataclass(frozen=True, kw_only=True, slots=True)
class GenerateEvent:
    """Progress report passed to the ``on_event`` callback."""

    phase: Phase
    status: RemoteStatus
    variant: Variant | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GenerateResult:
    """The outcome of one video: ``state`` is ``done`` or ``failed``."""

    job_id: str
    spec: JobSpec
    state: JobState
    status: RemoteStatus
    job_dir: Path
    estimated_cost: Decimal | None
    cost: Decimal | None
    error: RemoteError | None = None
    assets: Mapping[Variant, DownloadResult] = field(default_factory=dict)
    history: tuple[StatusEntry, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every asset is on disk and verified."""
        return self.state is JobState.DONE


async def run_generate(
    provider: Provider,
    spec: JobSpec,
    *,
    job_id: str,
    out_dir: Path,
    base_url: str,
    clock: Clock | None = None,
    poll: PollPolicy | None = None,
    prices: PriceTable | None = None,
    on_event: Callable[[GenerateEvent], None] | None = None,
    rng: random.Random | None = None,
) -> GenerateResult:
    """Create one video and collect its assets into ``out_dir / job_id``.

    Raises :class:`reelforge.InvalidSpecError` before sending anything when ``spec`` is invalid,
    and provider errors that polling cannot outlast. A job the provider fails is *returned* with
    ``state=failed`` and the provider's reason.
    """
    clock = clock or SystemClock()
    poll = poll or PollPolicy()
    spec = validate_spec(spec)
    estimate = estimate_cost(spec, prices)
    notify = on_event or (lambda _event: None)
    job_dir = out_dir / job_id
    history: list[StatusEntry] = []

    def observe(status: RemoteStatus) -> None:
        last = history[-1] if history else None
        if last is None or (last.status, last.progress) != (status.state.value, status.progress):
            history.append(
                StatusEntry(at=clock.now(), status=status.state.value, progress=status.progress)
            )

    status = await provider.submit(spec)
    observe(status)
    notify(GenerateEvent(phase=Phase.SUBMITTED, status=status))
    status = await _wait_until_terminal(
        provider, status, clock=clock, poll=poll, rng=rng, observe=observe, notify=notify
    )

    def finish(
        state: JobState,
        error: RemoteError | None,
        assets: Mapping[Variant, DownloadResult],
        cost: Decimal | None,
    ) -> GenerateResult:
        write_job_file(
            job_dir / "job.json",
            job_id=job_id,
            spec=spec,
            provider_base_url=base_url,
            status=status,
            history=history,
            assets={variant.value: result for variant, result in assets.items()},
            estimated_cost=estimate,
            cost=cost,
        )
        return GenerateResult(
            job_id=job_id,
            spec=spec,
            state=state,
            status=status,
            job_dir=job_dir,
            estimated_cost=estimate,
            cost=cost,
            error=error,
            assets=dict(assets),
            history=tuple(history),
        )

    if status.state is not RemoteState.COMPLETED:
        error = status.error or RemoteError(
            category=_category_for(status.state),
            message=f"the job ended {status.state.value}",
        )
        return finish(JobState.FAILED, error, {}, Decimal("0") if estimate is not None else None)

    assets: dict[Variant, DownloadResult] = {}
    for variant in provider.capabilities(spec.model).variants:
        notify(GenerateEvent(phase=Phase.DOWNLOADING, status=status, variant=variant))
        assets[variant] = await provider.download(
            status.remote_id, variant, job_dir / variant.filename
        )
        notify(GenerateEvent(phase=Phase.DOWNLOADED, status=status, variant=variant))
    return finish(JobState.DONE, None, assets, estimate)


async def _wait_until_terminal(
    provider: Provider,
    status: RemoteStatus,
    *,
    clock: Clock,
    poll: PollPolicy,
    rng: random.Random | None,
    observe: Callable[[RemoteStatus], None],
    notify: Callable[[GenerateEvent], None],
) -> RemoteStatus:
    """Poll until the job is terminal, outlasting transient errors until ``poll.timeout``."""
    deadline = clock.now() + poll.timeout
    seen = [Observation(at=clock.now(), progress=status.progress)]
    failures = 0
    while not status.state.is_terminal:
        if clock.now() >= deadline:
            # One last look: a paid video that finished late is still collected.
            status = await provider.fetch(status.remote_id)
            if not status.state.is_terminal:
                return _timed_out(status, poll.timeout)
            break
        delay = poll.next_delay(seen, hint=status.poll_after, started_at=status.created_at, rng=rng)
        await clock.sleep(delay)
        try:
            status = await provider.fetch(status.remote_id)
            failures = 0
        except RateLimitedError as exc:
            await clock.sleep(exc.retry_after or poll.first)
            continue
        except TransientError:
            failures += 1
            await clock.sleep(min(poll.ceiling, poll.first * 2**failures))
            continue
        seen.append(Observation(at=clock.now(), progress=status.progress))
        observe(status)
        notify(GenerateEvent(phase=Phase.STATUS, status=status))
    return status


def _timed_out(status: RemoteStatus, timeout: float) -> RemoteStatus:
    """A failed status with category ``timeout`` that keeps the remote id (still collectable)."""
    return RemoteStatus(
        remote_id=status.remote_id,
        state=RemoteState.FAILED,
        progress=status.progress,
        model=status.model,
        seconds=status.seconds,
        size=status.size,
        prompt=status.prompt,
        created_at=status.created_at,
        error=RemoteError(
            category=ErrorCategory.TIMEOUT,
            message=(
                f"still {status.state.value} after {timeout:.0f} s; it may finish later on "
                f"the provider (remote id {status.remote_id})"
            ),
        ),
        provider_status=status.provider_status,
    )


def _category_for(state: RemoteState) -> ErrorCategory:
    if state is RemoteState.EXPIRED:
        return ErrorCategory.EXPIRED
    return ErrorCategory.GENERATION_FAILED
