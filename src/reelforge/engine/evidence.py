"""The output folder as evidence of what was paid for.

Each job's ``job.json`` is written when its create is about to be sent (the intent), when its
remote id is known, and when it is done. If the database is lost (deleted, or another ``--db``
given for the same ``--out``), a job the new database has never tried is matched against its
folder before anything is sent:

* a ``job.json`` for another spec under the same key stops the run (exit 2) and says why;
* one with a remote id is adopted: the job continues from that remote id (and a ``done`` job
  whose files are all on disk with their recorded sizes and checksums is done at once);
* one with only an intent (the create may have been sent, its answer never recorded) puts the
  job in ``submitting`` at the intent's own time, so reconciliation finds the video by listing
  before anything is sent again.

Nothing here is ever paid twice; at worst a job is reconciled that did not need to be.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from reelforge.core.errors import ConfigError
from reelforge.core.models import JobState, Variant
from reelforge.core.naming import is_safe_component
from reelforge.providers._wire import is_valid_id
from reelforge.store import JobRow, Store

__all__ = ["adopt_from_out"]

_UNTRIED = frozenset({JobState.PENDING, JobState.WAITING})
_MAX_RECORD_BYTES = 4 * 1024 * 1024
_HASH_BLOCK = 1024 * 1024


def adopt_from_out(store: Store, batch_id: str, *, window: float) -> list[str]:
    """Match the batch's untried jobs with their ``job.json``; return a line per adoption."""
    batch = store.get_batch(batch_id)
    adopted = []
    for job in store.jobs(batch_id, states=_UNTRIED):
        if job.attempt or job.remote_id is not None:
            continue
        if not (is_safe_component(batch.name) and is_safe_component(job.key)):
            continue
        folder = Path(batch.out_dir) / batch.name
        folder = folder if batch.flat else folder / job.key
        record = _read(folder / "job.json")
        if record is None:
            continue
        line = _adopt(store, job, record, folder, window=window)
        if line is not None:
            adopted.append(line)
    return adopted


def _read(path: Path) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > _MAX_RECORD_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _adopt(
    store: Store, job: JobRow, record: dict[str, Any], folder: Path, *, window: float
) -> str | None:
    where = folder / "job.json"
    remote_id = record.get("remote_id")
    intent_at = record.get("intent_at")
    if remote_id is None and intent_at is None:
        return None
    if record.get("fingerprint") != job.fingerprint:
        raise ConfigError(
            f"{where} records {'video ' + str(remote_id) if remote_id else 'a create'} for "
            f"another spec under the key {job.key!r} (this database has no record of it): use "
            "the --db that ran it, another --out, or move that folder away"
        )
    if remote_id is not None and (not isinstance(remote_id, str) or not is_valid_id(remote_id)):
        raise ConfigError(f"{where} has an unreadable remote id: move that folder away")
    if job.state is JobState.PENDING:
        store.transition(job.id, JobState.WAITING, expect={JobState.PENDING})
    if job.estimated_cost is not None:
        store.reserve(job.id, job.estimated_cost, Decimal("Infinity"))
    at = intent_at if isinstance(intent_at, int | float) else None
    token = store.record_intent(job.id, window=window, at=at)
    if remote_id is None:
        store.record_note(job.id, f"found an unanswered create in {where}: reconciling")
        return f"{job.key}: a create may have been sent (see {where}): reconciling first"
    if store.find_by_remote_id(remote_id) is not None:
        raise ConfigError(f"{where} records video {remote_id}, which another job holds")
    submitted = record.get("submitted_at")
    store.record_remote_id(
        job.id,
        token,
        remote_id,
        state=JobState.QUEUED,
        submitted_at=submitted if isinstance(submitted, int | float) else None,
        data={"adopted_from": str(where)},
    )
    if record.get("state") == JobState.DONE.value and _files_verified(store, job, record, folder):
        store.transition(job.id, JobState.COMPLETED, expect={JobState.QUEUED}, progress=100)
        store.transition(job.id, JobState.DOWNLOADING, expect={JobState.COMPLETED})
        if job.estimated_cost is not None:
            store.settle(job.id, job.estimated_cost)
        store.transition(job.id, JobState.DONE, expect={JobState.DOWNLOADING})
        return f"{job.key}: done already ({remote_id}, files verified in {folder})"
    return f"{job.key}: continuing {remote_id} (recorded in {where})"


def _files_verified(store: Store, job: JobRow, record: dict[str, Any], folder: Path) -> bool:
    """Whether every asset ``job.json`` lists is on disk with its size and SHA-256; records
    them if so."""
    assets = record.get("assets")
    if not isinstance(assets, dict) or not assets:
        return False
    found = []
    for name, entry in assets.items():
        try:
            variant = Variant(name)
            path = folder / str(entry["file"])
            size, digest = int(entry["bytes"]), str(entry["sha256"])
        except (ValueError, KeyError, TypeError):
            return False
        if path.parent != folder or not path.is_file() or path.stat().st_size != size:
            return False
        if _sha256(path) != digest:
            return False
        found.append((variant, path, size, digest))
    for variant, path, size, digest in found:
        store.record_asset(job.id, variant, path, size, digest)
    return True


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_HASH_BLOCK):
            hasher.update(block)
    return hasher.hexdigest()
