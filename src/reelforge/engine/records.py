"""What the steps write: status changes, the timeout verdict, assets and ``job.json``."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from reelforge.campaign.labels import campaign_labels
from reelforge.core.derive import derive_spritesheet, derive_thumbnail
from reelforge.core.errors import AssetMismatchError, ErrorCategory, UnsupportedOperationError
from reelforge.core.files import write_atomic_json
from reelforge.core.models import DownloadResult, JobState, RemoteState, RemoteStatus, Variant
from reelforge.core.naming import is_safe_component
from reelforge.engine.context import EngineContext
from reelforge.engine.outcome import FINAL, local_state
from reelforge.store import BatchRow, JobRecord, JobRow, Store, clamp_progress

__all__ = [
    "POLL_HINT",
    "RANGE",
    "apply_pushed",
    "apply_status",
    "download_assets",
    "job_dir",
    "observe",
    "time_out",
    "variant_capability",
    "write_ending",
    "write_job_file",
    "write_record",
]

RANGE = "range"
"""The endpoint capability of answering a ``Range`` request with a part (206)."""
POLL_HINT = "poll_hint"
"""The endpoint capability of sending a poll hint (``openai-poll-after-ms``)."""

_MOVING = frozenset({JobState.QUEUED, JobState.IN_PROGRESS})


def apply_status(ctx: EngineContext, job_id: str, status: RemoteStatus) -> JobRow:
    """Record a fetched status: progress while running, the ending when it ends. Returns the
    job's row after it; a status that changes nothing writes nothing."""
    store = ctx.store
    job = store.get_job(job_id)
    if job.state not in _MOVING:
        return job
    state, category = local_state(status.state)
    if state in _MOVING:
        if state is job.state and clamp_progress(status.progress) == job.progress:
            return job
        store.record_progress(job_id, state, status.progress)
        return store.get_job(job_id)
    if state is JobState.COMPLETED:
        store.transition(
            job_id,
            JobState.COMPLETED,
            expect=_MOVING,
            progress=100,
            completed_at=status.completed_at,
            expires_at=status.expires_at,
        )
        if status.created_at is not None and status.completed_at is not None:
            ctx.durations.record(
                job.model, job.seconds, job.size, status.completed_at - status.created_at
            )
        return store.get_job(job_id)
    error = status.error
    if status.state is RemoteState.EXPIRED and job.estimated_cost is not None:
        store.settle(job_id, job.estimated_cost)  # made (and billed) before its files went
    store.transition(
        job_id,
        state,
        expect=_MOVING,
        category=(error.category if error else category) or ErrorCategory.GENERATION_FAILED,
        error=error.message if error else f"the provider reports the job {status.state.value}",
    )
    return store.get_job(job_id)


_RUNNING_ORDER = {JobState.QUEUED: 0, JobState.IN_PROGRESS: 1}


def apply_pushed(ctx: EngineContext, job_id: str, status: RemoteStatus) -> bool:
    """Record a status a verified webhook carried, as :func:`apply_status` records a fetched
    one, unless it would move the job backwards (a late ``starting`` after ``processing``, a
    lower progress, anything after the job ended): then nothing changes. Whether it was
    applied."""
    job = ctx.store.get_job(job_id)
    if job.state not in _MOVING:
        return False
    state, _ = local_state(status.state)
    if state in _MOVING and (
        _RUNNING_ORDER[state] < _RUNNING_ORDER[job.state]
        or (state is job.state and status.progress <= job.progress)
    ):
        return False
    apply_status(ctx, job_id, status)
    return True


def time_out(ctx: EngineContext, job_id: str, state: str, *, problem: str | None = None) -> None:
    """The job outlived its timeout: ``needs_review`` with its remote id, still collectable.

    ``state`` is the provider's last known state; ``problem`` why the last check failed."""
    job = ctx.store.get_job(job_id)
    why = f"; the last check failed: {problem}" if problem else ""
    ctx.store.transition(
        job_id,
        JobState.NEEDS_REVIEW,
        expect=_MOVING,
        category=ErrorCategory.TIMEOUT,
        error=(
            f"still {state} after {ctx.poll.timeout:.0f} s{why}; it may finish later "
            f"on the provider (remote id {job.remote_id}): `reelforge reconcile` collects it"
        ),
    )


def job_dir(store: Store, job: JobRow) -> Path:
    """``OUT/<batch>/<key>`` (``OUT/<batch>`` for a flat, one-job batch): names checked,
    never taken from the provider."""
    return _folder(store.get_batch(job.batch_id), job)


def _folder(batch: BatchRow, job: JobRow) -> Path:
    if not (is_safe_component(batch.name) and is_safe_component(job.key)):
        raise ValueError(f"unsafe output path for job {job.id}")
    folder = Path(batch.out_dir) / batch.name
    return folder if batch.flat else folder / job.key


def observe(
    ctx: EngineContext, account: str, capability: str, *, supported: bool, detail: str | None = None
) -> None:
    """Remember what ``account``'s endpoint was seen to offer or refuse (written only when it
    differs from what this process saw last)."""
    key = (account, capability)
    if ctx.observed.get(key) == supported:
        return
    ctx.store.set_capability(account, capability, supported=supported, detail=detail)
    ctx.observed[key] = supported


def variant_capability(variant: Variant) -> str:
    """The endpoint capability of serving ``variant`` (``variant:thumbnail``)."""
    return f"variant:{variant.value}"


async def download_assets(ctx: EngineContext, job: JobRow) -> None:
    """Download every variant not yet on disk, verify and record it, then settle: ``done``.

    A thumbnail or spritesheet the endpoint cannot serve (it sends something else, or refuses)
    is made from the downloaded video instead and recorded as derived; the endpoint's
    refusal is remembered for the account, so later jobs derive it at once.
    """
    store = ctx.store
    assert job.remote_id is not None
    store.transition(job.id, JobState.DOWNLOADING, expect={JobState.COMPLETED})
    provider = ctx.provider(job.account)
    record = store.job_record(job.id)
    folder = _folder(record.batch, job)
    have = {asset.variant: asset for asset in record.assets}
    refused = {name for name, row in store.capabilities(job.account).items() if not row.supported}
    # The video first: the other variants may have to be made from it.
    variants = sorted(provider.capabilities(job.model).variants, key=lambda v: v != Variant.VIDEO)
    for variant in variants:
        dest = folder / variant.filename
        known = have.get(variant)
        if known is not None and dest.is_file() and dest.stat().st_size == known.bytes:
            continue
        if variant is not Variant.VIDEO and variant_capability(variant) in refused:
            result = await _derive(folder, variant)
        else:
            result = await _fetch(ctx, job, variant, dest)
        store.record_asset(
            job.id, variant, result.path, result.size, result.sha256, derived=result.derived
        )
    actual = job.estimated_cost
    if actual is not None:
        store.settle(job.id, actual)
    write_job_file(store, job.id, state=JobState.DONE)
    store.transition(job.id, JobState.DONE, expect={JobState.DOWNLOADING})


async def _fetch(ctx: EngineContext, job: JobRow, variant: Variant, dest: Path) -> DownloadResult:
    """Download ``variant``; derive a thumbnail or spritesheet the endpoint cannot serve."""
    assert job.remote_id is not None
    provider = ctx.provider(job.account)
    try:
        result = await provider.download(job.remote_id, variant, dest)
    except (AssetMismatchError, UnsupportedOperationError) as exc:
        if variant is Variant.VIDEO:
            raise
        observe(
            ctx,
            job.account,
            variant_capability(variant),
            supported=False,
            detail=" ".join(str(exc).split())[:500],
        )
        ctx.store.record_note(
            job.id, f"the endpoint cannot serve the {variant.value}: made from the video ({exc})"
        )
        return await _derive(dest.parent, variant)
    if variant is not Variant.VIDEO:
        observe(ctx, job.account, variant_capability(variant), supported=True)
    if result.range_supported is not None:
        observe(ctx, job.account, RANGE, supported=result.range_supported)
    return result


async def _derive(folder: Path, variant: Variant) -> DownloadResult:
    """Make ``variant`` from the job's downloaded video (in a worker thread: it decodes)."""
    video = folder / Variant.VIDEO.filename
    dest = folder / variant.filename
    make = derive_thumbnail if variant is Variant.THUMBNAIL else derive_spritesheet
    made = await asyncio.to_thread(make, video, dest)
    return DownloadResult(
        variant=variant, path=made.path, size=made.size, sha256=made.sha256, derived=True
    )


def write_ending(store: Store, job_id: str) -> None:
    """Rewrite ``job.json`` of a job that ended without its files (failed, canceled, in
    review), so the record beside the output never says ``submitting`` or ``queued`` after
    the job has ended. Only where a ``job.json`` exists (the job got as far as its intent)."""
    record = store.job_record(job_id)
    job = record.job
    if job.state not in FINAL or job.state is JobState.DONE:
        return
    with contextlib.suppress(OSError, ValueError):
        if (_folder(record.batch, job) / "job.json").is_file():
            write_record(record)


def write_job_file(store: Store, job_id: str, *, state: JobState) -> None:
    """Write ``job.json``: spec, remote id, status history, checksums and cost. No secrets.

    Written when the create is about to be sent (the intent), when the remote id is known, and
    when the job is done: the output folder is evidence of what was paid for, even if the
    database is lost (see :mod:`reelforge.engine.evidence`). The job, its batch, assets and
    history are read in one transaction."""
    write_record(store.job_record(job_id), state=state)


def write_record(record: JobRecord, *, state: JobState | None = None) -> None:
    """Write ``job.json`` from a :class:`~reelforge.store.JobRecord` already read, saying
    ``state`` (default: the job's own)."""
    job = record.job
    state = job.state if state is None else state
    assets = {asset.variant.value: asset for asset in record.assets}
    history = [
        {
            "at": event.at,
            "kind": event.kind.value,
            "state": event.state.value if event.state else None,
            "progress": event.progress,
        }
        for event in record.history
    ]
    combination = campaign_labels(job.labels)
    write_atomic_json(
        _folder(record.batch, job) / "job.json",
        {
            "job_id": job.id,
            "batch": job.batch_id,
            "key": job.key,
            "state": state.value,
            "spec": job.spec.to_dict(),
            "labels": dict(job.labels),
            "campaign": combination.to_dict() if combination else None,
            "remote_id": job.remote_id,
            "fingerprint": job.fingerprint,
            "intent_at": job.intent_at,
            "attempts": job.attempt,
            "submitted_at": job.submitted_at,
            "completed_at": job.completed_at,
            "expires_at": job.expires_at,
            "error": {"category": job.category.value, "message": job.error}
            if job.category
            else None,
            "history": history,
            "assets": {
                name: {
                    "file": Path(asset.path).name,
                    "bytes": asset.bytes,
                    "sha256": asset.sha256,
                    "derived": asset.derived,
                }
                for name, asset in sorted(assets.items())
            },
            "cost": {
                "currency": "USD",
                "estimated": str(job.estimated_cost) if job.estimated_cost is not None else None,
                "actual": str(job.estimated_cost)
                if state is JobState.DONE and job.estimated_cost is not None
                else "0",
            },
        },
    )
