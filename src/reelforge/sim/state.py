"""Jobs and their life cycle. Status is computed lazily from the clock on every read."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reelforge.core.capabilities import capabilities_for
from reelforge.core.models import RemoteState
from reelforge.sim.config import SimConfig

__all__ = ["Job", "JobStore", "VideoView"]

MODERATION_MESSAGE = (
    "Your request was blocked by our moderation system. Please revise your prompt and try again."
)
GENERATION_FAILED_MESSAGE = "Video generation failed. Please try again."

_PRO_FAMILY = "sora-2-pro"


@dataclass(frozen=True, kw_only=True, slots=True)
class VideoView:
    """A job as the server sees it at one instant (for tests and ``/_sim`` routes)."""

    id: str
    api_key_id: str
    status: RemoteState
    progress: int
    model: str
    prompt: str
    seconds: str
    size: str
    created_at: float
    started_at: float
    finished_at: float
    """When the job reaches its terminal state (in the future while it runs)."""
    expires_at: float | None
    error_code: str | None
    remixed_from: str | None
    deleted: bool


@dataclass(kw_only=True, slots=True)
class Job:
    """One video job. Times are the clock's (real) Unix seconds."""

    id: str
    seq: int
    api_key_id: str
    prompt: str
    model: str
    seconds: int
    size: str
    created_at: float
    started_at: float
    finished_at: float
    fail_code: str | None = None
    fail_message: str | None = None
    fail_progress: int = 0
    remixed_from: str | None = None
    """The source job of a remix, edit or extension."""
    kind: str = "create"
    deleted_at: float | None = None
    expires_after: float = 3600.0
    """Real seconds from completion to expiry."""
    webhook_sent: bool = field(default=False)
    protocol: str = "openai"
    """The protocol that created it (``openai``, ``fal``, ``replicate``): ids and shapes differ."""
    data: dict[str, Any] = field(default_factory=dict)
    """Protocol-specific state: the input as sent, a webhook URL, a deadline, …"""
    canceled_at: float | None = None
    """When a cancel request stopped it (only if it had not finished by then)."""

    def status(self, now: float) -> tuple[RemoteState, int]:
        """The wire status and progress at ``now``."""
        if self.canceled_at is not None and now >= self.canceled_at:
            return RemoteState.CANCELED, self._progress(self.canceled_at, 100)
        if now < self.started_at:
            return RemoteState.QUEUED, 0
        if now < self.finished_at:
            span = max(self.finished_at - self.started_at, 1e-9)
            fraction = (now - self.started_at) / span
            if self.fail_code is not None:
                return RemoteState.IN_PROGRESS, min(int(fraction * self.fail_progress), 99)
            return RemoteState.IN_PROGRESS, min(int(fraction * 100), 99)
        if self.fail_code is not None:
            return RemoteState.FAILED, self.fail_progress
        return RemoteState.COMPLETED, 100

    def _progress(self, at: float, ceiling: int) -> int:
        """Progress at ``at`` on the way to ``ceiling`` percent (0 while queued, < 100)."""
        if at < self.started_at:
            return 0
        span = max(self.finished_at - self.started_at, 1e-9)
        return min(int((at - self.started_at) / span * ceiling), 99)

    def in_flight_until(self) -> float:
        """When the job stops counting against the in-flight limit."""
        end = self.finished_at
        if self.deleted_at is not None:
            end = min(self.deleted_at, end)
        if self.canceled_at is not None:
            end = min(self.canceled_at, end)
        return end

    def expires_at(self) -> float | None:
        """When the assets expire; ``None`` unless the job completes."""
        if self.fail_code is not None or self.canceled_at is not None:
            return None
        return self.finished_at + self.expires_after

    def to_json(self, now: float) -> dict[str, Any]:
        """The Video object, with every key the protocol defines."""
        status, progress = self.status(now)
        completed = status in (RemoteState.COMPLETED, RemoteState.FAILED)
        error = None
        if status is RemoteState.FAILED:
            error = {"code": self.fail_code, "message": self.fail_message}
        expires = self.expires_at() if status is RemoteState.COMPLETED else None
        return {
            "id": self.id,
            "object": "video",
            "model": self.model,
            "status": status.value,
            "progress": progress,
            "created_at": int(self.created_at),
            "completed_at": int(self.finished_at) if completed else None,
            "expires_at": int(expires) if expires is not None else None,
            "prompt": self.prompt,
            "size": self.size,
            "seconds": str(self.seconds),
            "remixed_from_video_id": self.remixed_from if self.kind == "remix" else None,
            "error": error,
        }

    def view(self, now: float) -> VideoView:
        """A frozen snapshot at ``now``."""
        status, progress = self.status(now)
        return VideoView(
            id=self.id,
            api_key_id=self.api_key_id,
            status=status,
            progress=progress,
            model=self.model,
            prompt=self.prompt,
            seconds=str(self.seconds),
            size=self.size,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            expires_at=self.expires_at() if status is RemoteState.COMPLETED else None,
            error_code=self.fail_code if status is RemoteState.FAILED else None,
            remixed_from=self.remixed_from,
            deleted=self.deleted_at is not None,
        )


class JobStore:
    """Every job ever created, in creation order, with seeded ids, timing and failures."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._ids = random.Random(f"{config.seed}:ids")
        self._jobs: dict[str, Job] = {}
        self._order: list[Job] = []
        self._moderation = [re.compile(p, re.IGNORECASE) for p in config.faults.moderation_patterns]

    @property
    def jobs(self) -> list[Job]:
        """All jobs in creation order, deleted ones included."""
        return list(self._order)

    def new_id(self, fmt: Callable[[int], str] | None = None) -> str:
        """A fresh id, deterministic for a seed and a sequence of creates: ``video_<hex>`` by
        default, or ``fmt`` applied to 128 random bits (each protocol words its own ids)."""
        while True:
            bits = self._ids.getrandbits(128)
            candidate = fmt(bits) if fmt is not None else f"video_{bits:032x}"
            if candidate not in self._jobs:
                return candidate

    def _speed(self, model: str) -> float:
        extra = self.config.extra_models.get(model)
        if extra is not None:
            return extra.speed
        caps = capabilities_for(model)
        return self.config.pro_slowdown if caps.model == _PRO_FAMILY else 1.0

    def create(
        self,
        *,
        api_key_id: str,
        prompt: str,
        model: str,
        seconds: int,
        size: str,
        now: float,
        remixed_from: str | None = None,
        kind: str = "create",
        protocol: str = "openai",
        id_format: Callable[[int], str] | None = None,
        data: dict[str, Any] | None = None,
    ) -> Job:
        """Create a job: decide its timing and its fate now, from the seed and its id."""
        cfg = self.config
        video_id = self.new_id(id_format)
        rng = random.Random(f"{cfg.seed}:{video_id}:fate")

        def jittered(value: float) -> float:
            return value * (1 + rng.uniform(-cfg.jitter, cfg.jitter))

        scale = cfg.time_scale
        queue = jittered(cfg.queue_seconds) / scale
        generation = (
            jittered(
                (cfg.base_generation_seconds + cfg.generation_seconds_per_video_second * seconds)
                * self._speed(model)
            )
            / scale
        )
        job = Job(
            id=video_id,
            seq=len(self._order),
            api_key_id=api_key_id,
            prompt=prompt,
            model=model,
            seconds=seconds,
            size=size,
            created_at=now,
            started_at=now + queue,
            finished_at=now + queue + generation,
            remixed_from=remixed_from,
            kind=kind,
            expires_after=cfg.expires_after / scale,
            protocol=protocol,
            data=dict(data or {}),
        )
        faults = cfg.faults
        blocked = any(p.search(prompt) for p in self._moderation)
        moderation_draw = rng.random()
        failure_draw = rng.random()
        if blocked and moderation_draw < faults.moderation_rate:
            # Moderation answers early: shortly after generation starts.
            job.fail_code, job.fail_message = "moderation_blocked", MODERATION_MESSAGE
            job.fail_progress = 0
            job.finished_at = job.started_at + generation * 0.1
        elif failure_draw < faults.generation_failure_rate:
            job.fail_code, job.fail_message = "video_generation_failed", GENERATION_FAILED_MESSAGE
            job.fail_progress = rng.randint(10, 90)
            job.finished_at = job.started_at + generation * job.fail_progress / 100
        self._jobs[video_id] = job
        self._order.append(job)
        return job

    def get(self, video_id: str, api_key_id: str | None = None) -> Job | None:
        """The live (not deleted) job, visible to ``api_key_id`` when keys are isolated."""
        job = self._jobs.get(video_id)
        if job is None or job.deleted_at is not None:
            return None
        if api_key_id is not None and self.config.isolate_keys and job.api_key_id != api_key_id:
            return None
        return job

    def any(self, video_id: str) -> Job | None:
        """The job whatever its state or owner (for tests)."""
        return self._jobs.get(video_id)

    def cancel(self, job: Job, now: float) -> bool:
        """Stop ``job`` at ``now`` if it has not finished; whether it was still running."""
        if job.canceled_at is not None:
            return True
        if now >= job.finished_at:
            return False
        job.canceled_at = now
        return True

    def delete(self, job: Job, now: float) -> None:
        """Mark ``job`` deleted; it stops counting as in flight."""
        job.deleted_at = now

    def visible(self, api_key_id: str) -> list[Job]:
        """Jobs a key may list, oldest first, deleted ones included (they anchor cursors)."""
        if not self.config.isolate_keys:
            return list(self._order)
        return [job for job in self._order if job.api_key_id == api_key_id]

    def in_flight(self, api_key_id: str, now: float) -> int:
        """How many of a key's jobs are queued or in progress at ``now``."""
        return sum(
            1
            for job in self._order
            if job.api_key_id == api_key_id and job.created_at <= now < job.in_flight_until()
        )

    def max_in_flight_seen(self, api_key_id: str | None = None) -> int:
        """The most jobs that were queued or in progress at the same instant, ever."""
        events: list[tuple[float, int]] = []
        for job in self._order:
            if api_key_id is not None and job.api_key_id != api_key_id:
                continue
            events.append((job.created_at, 1))
            events.append((job.in_flight_until(), -1))
        # Ends sort before starts at the same instant: a slot freed at t can be reused at t.
        events.sort(key=lambda item: (item[0], item[1]))
        current = best = 0
        for _, delta in events:
            current += delta
            best = max(best, current)
        return best

    def reset(self) -> None:
        """Forget every job (``POST /_sim/reset``); ids keep their sequence."""
        self._jobs.clear()
        self._order.clear()
