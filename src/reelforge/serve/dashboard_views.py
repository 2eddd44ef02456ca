"""What the dashboard's pages show, read from the store: plain values the templates render.

Nothing here writes; every function is one or a few short reads, run in a worker thread by
the routes (:mod:`reelforge.serve.dashboard`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from PIL import Image

from reelforge.campaign.labels import campaign_labels
from reelforge.core.derive import SPRITE_COLUMNS, SPRITE_TILE_WIDTH
from reelforge.core.models import Variant
from reelforge.engine.outcome import FINAL
from reelforge.serve.views import eta_seconds
from reelforge.sinks.notion.schema import dimension_labels
from reelforge.store import AssetRow, BatchRow, EventRow, JobRow, Review, Store

__all__ = [
    "BatchView",
    "Card",
    "JobView",
    "Sprite",
    "batch_view",
    "cards",
    "compliance_entry",
    "job_view",
    "sprite_of",
]

_COMPLIANCE_FILE = "compliance.json"
_REQUEST_ID_KEYS = ("request_id", "x-request-id", "provider_request_id")


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchView:
    """One batch (or campaign) on the overview."""

    batch: BatchRow
    total: int
    counts: Mapping[str, int] = field(hash=False)
    """Jobs per state, only the states some job is in."""
    cost: Decimal
    """Money spent so far (settled) plus what is held for jobs in flight."""
    budget: Decimal | None
    eta_seconds: float | None
    """Seconds to the end at the pace jobs have ended so far (as ``GET /api/batches``)."""
    providers: tuple[str, ...]
    campaign: str | None
    finished: int

    @property
    def percent(self) -> int:
        """Share of the jobs that have ended."""
        return round(100 * self.finished / self.total) if self.total else 100


@dataclass(frozen=True, kw_only=True, slots=True)
class Sprite:
    """Where a job's spritesheet is and how its tiles are laid out."""

    url: str
    columns: int
    rows: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Card:
    """One job (a campaign combination) in a batch's gallery."""

    job: JobRow
    title: str
    dimensions: Mapping[str, str] = field(hash=False)
    cost: Decimal | None
    thumbnail: str | None
    video: str | None
    sprite: Sprite | None
    review: Review | None


@dataclass(frozen=True, kw_only=True, slots=True)
class JobView:
    """Everything the job's page shows."""

    job: JobRow
    batch: BatchRow
    dimensions: Mapping[str, str] = field(hash=False)
    history: Sequence[EventRow]
    assets: Sequence[AssetRow]
    request_ids: tuple[str, ...]
    compliance: Mapping[str, Any] | None = field(hash=False)
    """The job's entry of the campaign's ``compliance.json`` (verdict, findings, prompts)."""
    review: Review | None
    thumbnail: str | None
    video: str | None


def file_url(job_id: str, variant: Variant) -> str:
    """Where the dashboard serves one of a job's recorded assets."""
    return f"/files/{job_id}/{variant.value}"


def batch_view(store: Store, batch: BatchRow) -> BatchView:
    """Counts, money, pace and providers of one batch."""
    jobs = store.jobs(batch.id)
    summary = store.batch_summary(batch.id)
    counts = {state.value: n for state, n in summary.counts.items() if n}
    finished = sum(1 for job in jobs if job.state in FINAL)
    campaign = next((job.labels.get("campaign") for job in jobs if "campaign" in job.labels), None)
    return BatchView(
        batch=batch,
        total=summary.total,
        counts=counts,
        cost=summary.actual + summary.reserved,
        budget=summary.budget_usd,
        eta_seconds=eta_seconds(jobs, store.now()),
        providers=tuple(sorted({job.provider for job in jobs})),
        campaign=campaign,
        finished=finished,
    )


def job_dimensions(job: JobRow) -> dict[str, str]:
    """The job's campaign dimensions (or a plain batch's labels), in the campaign's order."""
    combination = campaign_labels(job.labels)
    if combination is not None and combination.dimensions:
        return dict(combination.dimensions)
    return {name: job.labels[name] for name in dimension_labels(job.labels)}


def _title(job: JobRow) -> str:
    dims = job_dimensions(job)
    return " / ".join(v for v in dims.values() if v) or job.key


def cards(store: Store, batch: BatchRow) -> list[Card]:
    """A card per job of the batch, in file order."""
    reviews = store.reviews(batch.id)
    return [card(store, job, reviews.get(job.id)) for job in store.jobs(batch.id)]


def card(store: Store, job: JobRow, review: Review | None) -> Card:
    """The job's gallery card: its files as they are now, and its latest ``review``."""
    assets = {asset.variant: asset for asset in store.assets(job.id)}
    thumb, sheet = assets.get(Variant.THUMBNAIL), assets.get(Variant.SPRITESHEET)
    cost = job.actual_cost if job.actual_cost is not None else job.estimated_cost
    return Card(
        job=job,
        title=_title(job),
        dimensions=job_dimensions(job),
        cost=cost,
        thumbnail=file_url(job.id, Variant.THUMBNAIL) if thumb is not None else None,
        video=file_url(job.id, Variant.VIDEO) if Variant.VIDEO in assets else None,
        sprite=sprite_of(job.id, sheet, thumb),
        review=review,
    )


def sprite_of(job_id: str, sheet: AssetRow | None, thumb: AssetRow | None) -> Sprite | None:
    """The spritesheet's grid: tiles :data:`SPRITE_TILE_WIDTH` wide (a narrower video keeps
    its width) with the video's aspect (read from the thumbnail, which has the video's size),
    :data:`SPRITE_COLUMNS` to a row; None when there is no readable spritesheet."""
    if sheet is None:
        return None
    try:
        with Image.open(sheet.path) as image:
            width, height = image.size
        video_w, video_h = width, height
        if thumb is not None:
            with Image.open(thumb.path) as image:
                video_w, video_h = image.size
    except OSError:
        return None
    tile_w = min(SPRITE_TILE_WIDTH, video_w)
    tile_h = max(1, video_h * tile_w // max(1, video_w))
    columns = max(1, min(SPRITE_COLUMNS, round(width / tile_w)))
    rows = max(1, round(height / tile_h))
    return Sprite(url=file_url(job_id, Variant.SPRITESHEET), columns=columns, rows=rows)


def compliance_entry(batch: BatchRow, key: str) -> Mapping[str, Any] | None:
    """The job's combination in the campaign's ``compliance.json`` (beside its videos), if
    the batch is a campaign and the report is readable."""
    path = Path(batch.out_dir) / batch.name / _COMPLIANCE_FILE
    try:
        report = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    for entry in report.get("combinations") or ():
        if isinstance(entry, Mapping) and entry.get("key") == key:
            return entry
    return None


def _request_ids(history: Sequence[EventRow]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for event in history:
        for name in _REQUEST_ID_KEYS:
            value = event.data.get(name)
            if isinstance(value, str) and value:
                found[value] = None
    return tuple(found)


def job_view(store: Store, job_id: str) -> JobView:
    """The job's page: :class:`~reelforge.store.JobNotFoundError` for an unknown job."""
    job = store.get_job(job_id)
    batch = store.get_batch(job.batch_id)
    history = store.history(job.id)
    assets = store.assets(job.id)
    variants = {asset.variant for asset in assets}
    return JobView(
        job=job,
        batch=batch,
        dimensions=job_dimensions(job),
        history=history,
        assets=assets,
        request_ids=_request_ids(history),
        compliance=compliance_entry(batch, job.key),
        review=store.latest_review(job.id),
        thumbnail=file_url(job.id, Variant.THUMBNAIL) if Variant.THUMBNAIL in variants else None,
        video=file_url(job.id, Variant.VIDEO) if Variant.VIDEO in variants else None,
    )
