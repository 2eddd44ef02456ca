"""Typed values read from and written to the store: rows as frozen dataclasses, states as enums.

Raw strings from the database are turned into enums here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy import RowMapping

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobSpec, JobState, Variant

__all__ = [
    "AssetRow",
    "BatchRow",
    "BatchState",
    "BatchSummary",
    "CapabilityRow",
    "CostLine",
    "EventKind",
    "EventRow",
    "JobRow",
    "NewJob",
    "Review",
    "ReviewVerdict",
]


class BatchState(StrEnum):
    """Where a batch as a whole stands."""

    OPEN = "open"
    """Jobs are still being planned, admitted or worked on."""
    FINISHED = "finished"
    """Every job reached a final state."""
    CANCELED = "canceled"
    """The user canceled the batch."""


class EventKind(StrEnum):
    """What a ``job_events`` row records."""

    STATE = "state"
    """The job changed state (including its creation, as ``pending``)."""
    PROGRESS = "progress"
    """The provider reported new progress without a change of state."""
    INTENT = "intent"
    """A submission intent was committed (state ``submitting``)."""
    REMOTE_ID = "remote_id"
    """The provider's id for the job was recorded."""
    ASSET = "asset"
    """An asset was downloaded and verified."""
    COST = "cost"
    """Money was reserved or settled."""
    NOTE = "note"
    """Anything else worth showing in the job's history."""
    REVIEW = "review"
    """A person's verdict on the finished clip (``data``: ``verdict``, ``note``); it changes
    nothing in the job's life cycle."""


class ReviewVerdict(StrEnum):
    """A person's verdict on a clip (the dashboard's approve / reject)."""

    APPROVED = "approved"
    """The clip may be used."""
    REJECTED = "rejected"
    """The clip may not be used (the note says why)."""


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, kw_only=True, slots=True)
class NewJob:
    """A job to add to a batch. ``key`` is stable across runs of the same batch file."""

    key: str
    spec: JobSpec
    position: int
    account: str = "default"
    """The provider account (partition key): a hash, never the key itself."""
    estimated_cost: Decimal | None = None
    rejected: str | None = None
    """Why compliance blocked the job: it is recorded ``rejected`` (category ``compliance``)
    in the same transaction that adds it, so it is never ``pending``, not even for a moment."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchRow:
    """One batch."""

    id: str
    name: str
    created_at: float
    updated_at: float
    source: str | None
    out_dir: str
    budget_usd: Decimal | None
    max_in_flight: int
    rpm: int | None
    state: BatchState
    flat: bool = False
    """A one-job batch whose files go straight into ``OUT/<batch>/``."""

    @classmethod
    def from_mapping(cls, row: RowMapping) -> BatchRow:
        """Build from a ``batches`` row."""
        return cls(
            id=row["id"],
            name=row["name"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            source=row["source"],
            out_dir=row["out_dir"],
            budget_usd=row["budget_usd"],
            max_in_flight=row["max_in_flight"],
            rpm=row["rpm"],
            state=BatchState(row["state"]),
            flat=bool(row["flat"]),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class JobRow:
    """One job as the store holds it."""

    id: str
    batch_id: str
    key: str
    position: int
    spec: JobSpec
    provider: str
    account: str
    model: str
    seconds: int
    size: str
    prompt: str
    labels: Mapping[str, str] = field(hash=False)
    state: JobState
    category: ErrorCategory | None
    error: str | None
    remote_id: str | None
    attempt: int
    intent_token: str | None
    intent_at: float | None
    fingerprint: str
    progress: int
    submitted_at: float | None
    completed_at: float | None
    expires_at: float | None
    estimated_cost: Decimal | None
    actual_cost: Decimal | None
    created_at: float
    updated_at: float
    version: int
    resend_after: float | None = None
    """While ``submitting``: when an unlisted create is known never to have arrived."""

    @classmethod
    def from_mapping(cls, row: RowMapping) -> JobRow:
        """Build from a ``jobs`` row."""
        category = row["category"]
        return cls(
            id=row["id"],
            batch_id=row["batch_id"],
            key=row["key"],
            position=row["position"],
            spec=spec_from_dict(_as_dict(row["spec"])),
            provider=row["provider"],
            account=row["account"],
            model=row["model"],
            seconds=row["seconds"],
            size=row["size"],
            prompt=row["prompt"],
            labels=_frozen(_as_dict(row["labels"])),
            state=JobState(row["state"]),
            category=ErrorCategory(category) if category is not None else None,
            error=row["error"],
            remote_id=row["remote_id"],
            attempt=row["attempt"],
            intent_token=row["intent_token"],
            intent_at=row["intent_at"],
            fingerprint=row["fingerprint"],
            progress=row["progress"],
            submitted_at=row["submitted_at"],
            completed_at=row["completed_at"],
            expires_at=row["expires_at"],
            estimated_cost=row["estimated_cost"],
            actual_cost=row["actual_cost"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            version=row["version"],
            resend_after=row["resend_after"],
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class EventRow:
    """One entry of the status history (and of the outbox the sinks read)."""

    id: int
    job_id: str
    batch_id: str
    at: float
    kind: EventKind
    state: JobState | None
    progress: int | None
    data: Mapping[str, Any] = field(hash=False)

    @classmethod
    def from_mapping(cls, row: RowMapping) -> EventRow:
        """Build from a ``job_events`` row."""
        state = row["state"]
        return cls(
            id=row["id"],
            job_id=row["job_id"],
            batch_id=row["batch_id"],
            at=row["at"],
            kind=EventKind(row["kind"]),
            state=JobState(state) if state is not None else None,
            progress=row["progress"],
            data=_frozen(_as_dict(row["data"])),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Review:
    """A person's latest verdict on a job's clip, read from its ``review`` events."""

    job_id: str
    verdict: ReviewVerdict
    note: str
    at: float
    event_id: int

    @classmethod
    def from_event(cls, event: EventRow) -> Review:
        """From a ``review`` event."""
        return cls(
            job_id=event.job_id,
            verdict=ReviewVerdict(str(event.data["verdict"])),
            note=str(event.data.get("note") or ""),
            at=event.at,
            event_id=event.id,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class AssetRow:
    """A downloaded, verified asset."""

    job_id: str
    variant: Variant
    path: Path
    bytes: int
    sha256: str
    downloaded_at: float
    derived: bool = False
    """Made by reelforge from the video (the endpoint could not serve this variant)."""

    @classmethod
    def from_mapping(cls, row: RowMapping) -> AssetRow:
        """Build from an ``assets`` row."""
        return cls(
            job_id=row["job_id"],
            variant=Variant(row["variant"]),
            path=Path(row["path"]),
            bytes=row["bytes"],
            sha256=row["sha256"],
            downloaded_at=row["downloaded_at"],
            derived=bool(row["derived"]),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class JobRecord:
    """A job with its batch, assets and status history, read in one transaction (what
    ``job.json`` is written from)."""

    job: JobRow
    batch: BatchRow
    assets: list[AssetRow]
    history: list[EventRow]


@dataclass(frozen=True, kw_only=True, slots=True)
class CapabilityRow:
    """What an account's endpoint was seen to offer or refuse, and when."""

    account: str
    capability: str
    supported: bool
    detail: str | None
    observed_at: float

    @classmethod
    def from_mapping(cls, row: RowMapping) -> CapabilityRow:
        """Build from an ``endpoint_capabilities`` row."""
        return cls(
            account=row["account"],
            capability=row["capability"],
            supported=bool(row["supported"]),
            detail=row["detail"],
            observed_at=row["observed_at"],
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchSummary:
    """Counts per state and money totals for one batch."""

    batch_id: str
    total: int
    counts: Mapping[JobState, int] = field(hash=False)
    """Jobs per state; every state is present, with zero where no job is in it."""
    estimated: Decimal
    reserved: Decimal
    """Money held by reservations not yet settled."""
    actual: Decimal
    budget_usd: Decimal | None


@dataclass(frozen=True, kw_only=True, slots=True)
class CostLine:
    """One line of a cost report."""

    group: str
    jobs: int
    estimated: Decimal
    actual: Decimal


def spec_from_dict(data: Mapping[str, Any]) -> JobSpec:
    """The inverse of :meth:`JobSpec.to_dict`."""
    reference = data.get("input_reference")
    audio, seed = data.get("audio"), data.get("seed")
    return JobSpec(
        prompt=str(data["prompt"]),
        provider=str(data["provider"]),
        model=str(data["model"]),
        seconds=int(data["seconds"]),
        size=str(data["size"]),
        input_reference=Path(reference) if reference else None,
        labels={str(k): str(v) for k, v in dict(data.get("labels") or {}).items()},
        aspect_ratio=_text(data.get("aspect_ratio")),
        resolution=_text(data.get("resolution")),
        audio=bool(audio) if audio is not None else None,
        image=_text(data.get("image")),
        end_image=_text(data.get("end_image")),
        negative_prompt=_text(data.get("negative_prompt")),
        seed=int(seed) if seed is not None else None,
        params=dict(data.get("params") or {}),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _as_dict(value: Any) -> dict[str, Any]:
    # The JSON type decodes already; a value written as text by hand is decoded here.
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value) if value else {}
