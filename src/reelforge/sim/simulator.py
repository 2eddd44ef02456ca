"""The :class:`Simulator`: jobs, media, faults and the log behind one ASGI app."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from reelforge.core.models import Variant
from reelforge.sim.app import create_app
from reelforge.sim.clock import NowClock, SimClock
from reelforge.sim.config import SimConfig
from reelforge.sim.faults import FaultInjector, RequestLimiter
from reelforge.sim.log import SimLog
from reelforge.sim.media import MediaJob, MediaStore
from reelforge.sim.state import Job, JobStore, VideoView

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["Simulator"]


class Simulator:
    """A local server of the OpenAI Videos protocol (``/v1/videos``), as an ASGI app.

    ``clock`` is any object with ``now()`` returning Unix seconds (the real time); simulated time
    runs ``config.time_scale`` times faster. Tests reach :attr:`app` through
    ``httpx.ASGITransport``; :class:`~reelforge.sim.EmbeddedSimulator` serves it on a port.
    """

    def __init__(self, config: SimConfig | None = None, clock: NowClock | None = None) -> None:
        self.config = config if config is not None else SimConfig()
        self.clock = SimClock(clock, self.config.time_scale)
        self.started = self.clock.now()
        self.log = SimLog()
        """Ground truth: every create, request and webhook delivery."""
        self.store = JobStore(self.config)
        if self.config.cache_dir is not None:
            root = self.config.cache_dir
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(tempfile.mkdtemp(prefix="reelforge-sim-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)
        self.media = MediaStore(
            root,
            fps=self.config.fps,
            media_scale=self.config.media_scale,
            large_asset_bytes=self.config.faults.large_asset_bytes,
        )
        self.faults = FaultInjector(self.config.faults, self.config.seed, self.started)
        self.limiter = RequestLimiter(self.config.requests_per_minute)
        self.app: Starlette = create_app(self)
        """The Starlette ASGI app: ``/v1/videos…`` and ``/_sim/…`` routes."""

    def now(self) -> float:
        """The simulator's current (real, possibly advanced) time in Unix seconds."""
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` of *simulated* time (``seconds / time_scale`` real)."""
        self.clock.advance(seconds)

    @property
    def videos(self) -> dict[str, VideoView]:
        """Every job's state right now, by id (deleted ones included, flagged)."""
        now = self.now()
        return {job.id: job.view(now) for job in self.store.jobs}

    def video(self, video_id: str) -> VideoView:
        """One job's state right now; ``KeyError`` if it never existed."""
        job = self.store.any(video_id)
        if job is None:
            raise KeyError(video_id)
        return job.view(self.now())

    def max_in_flight_seen(self, api_key_id: str | None = None) -> int:
        """The most jobs queued or in progress at once, for one key or overall."""
        return self.store.max_in_flight_seen(api_key_id)

    def media_job(self, job: Job) -> MediaJob:
        """What a job's media is rendered from."""
        return MediaJob(
            video_id=job.id,
            prompt=job.prompt,
            model=job.model,
            seconds=job.seconds,
            size=job.size,
            seed=self.config.seed,
        )

    def asset_sha256(self, video_id: str, variant: str | Variant = Variant.VIDEO) -> str:
        """SHA-256 hex of the bytes served for an asset (renders it if needed)."""
        job = self.store.any(video_id)
        if job is None:
            raise KeyError(video_id)
        return self.media.sha256(self.media_job(job), Variant(variant))

    def asset_size(self, video_id: str, variant: str | Variant = Variant.VIDEO) -> int:
        """The byte length of an asset (renders it if needed)."""
        job = self.store.any(video_id)
        if job is None:
            raise KeyError(video_id)
        return self.media.size(self.media_job(job), Variant(variant))

    def reset(self) -> None:
        """Forget every job and log entry (media of forgotten jobs stays cached on disk)."""
        self.store.reset()
        self.log.clear()

    def close(self) -> None:
        """Remove the private media directory now rather than at garbage collection."""
        cleanup = getattr(self, "_cleanup", None)
        if cleanup is not None:
            cleanup()
