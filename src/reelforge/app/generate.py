"""One video as a one-job batch on the durable engine (``reelforge generate``,
``Forge.generate``, ``reelforge.generate()``).

The job runs exactly like a batch's: the create is fenced by a recorded intent, the job is
polled, its assets are downloaded and verified, and the engine writes its ``job.json``. The
batch is *flat* and named after the job id, so the files land straight in ``OUT/<job id>/``.

Unless the caller chose a database, the job is recorded in a throwaway one (a temporary folder,
removed when the run returns); a chosen one keeps it, for ``reelforge status <job id>``.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from reelforge.app.batchrun import check_resumable
from reelforge.batch import Batch
from reelforge.batch.ids import SAFE_NAME_PATTERN, name_problem
from reelforge.core.config import DEFAULT_DB_PATH, Settings
from reelforge.core.errors import ConfigError, ErrorCategory, InvalidSpecError
from reelforge.core.models import DownloadResult, JobSpec, JobState, Variant
from reelforge.engine import Engine
from reelforge.providers.registry import Providers
from reelforge.store import EventKind, EventRow, JobRow, Store

__all__ = [
    "FailureReason",
    "GenerateEvent",
    "GenerateResult",
    "Phase",
    "StatusEntry",
    "check_recorded",
    "chosen_database",
    "generate_database",
    "one_job_batch",
    "run_one",
    "throwaway_database",
]

_STATUS_KINDS = frozenset(
    {EventKind.STATE, EventKind.PROGRESS, EventKind.INTENT, EventKind.REMOTE_ID}
)
"""The events that change a job's state or progress (its status history)."""
_VARIANTS = list(Variant)


class Phase(StrEnum):
    """What a progress event reports."""

    SUBMITTED = "submitted"
    """The provider accepted the job: its remote id is recorded."""
    STATUS = "status"
    """The job's state or progress changed."""
    DOWNLOADING = "downloading"
    """The job completed on the provider; its assets are being fetched."""
    DOWNLOADED = "downloaded"
    """An asset is on disk and verified (``variant`` says which)."""
    NOTE = "note"
    """The engine noted something worth showing (``message``): a create being reconciled,
    an unusable answer from the provider."""


@dataclass(frozen=True, kw_only=True, slots=True)
class GenerateEvent:
    """Progress report passed to the ``on_event`` callback, read from the job's recorded
    history as the engine works on it."""

    phase: Phase
    state: JobState
    progress: int
    at: float
    """When the engine recorded it (Unix time)."""
    remote_id: str | None = None
    """The provider's id for the job, once it is known."""
    variant: Variant | None = None
    message: str | None = None
    """What the engine noted (``note`` events only)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusEntry:
    """One recorded state or progress of the job, for its history."""

    at: float
    status: str
    """The job's state (``submitting``, ``queued``, ``in_progress`` … ``done``)."""
    progress: int

    def to_dict(self) -> dict[str, object]:
        return {"at": self.at, "status": self.status, "progress": self.progress}


@dataclass(frozen=True, kw_only=True, slots=True)
class FailureReason:
    """Why a job did not end ``done``: its category and message as recorded, and the
    provider's error ``code`` and offending ``param`` where the engine recorded them."""

    category: ErrorCategory
    message: str
    code: str | None = None
    param: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "category": self.category.value,
            "message": self.message,
            "code": self.code,
            "param": self.param,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class GenerateResult:
    """The outcome of one video: ``state`` is ``done``, or ``failed`` / ``needs_review`` /
    ``canceled`` with ``error`` saying why."""

    job_id: str
    """The job's folder name under ``out``, and its batch id in the database."""
    spec: JobSpec
    state: JobState
    remote_id: str | None
    """The provider's id for the job (``None`` when nothing was created)."""
    job_dir: Path
    estimated_cost: Decimal | None
    cost: Decimal | None
    error: FailureReason | None = None
    assets: Mapping[Variant, DownloadResult] = field(default_factory=dict)
    history: tuple[StatusEntry, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every asset is on disk and verified."""
        return self.state is JobState.DONE


def one_job_batch(job_id: str, spec: JobSpec) -> Batch:
    """A batch named ``job_id`` holding ``spec`` alone. :class:`InvalidSpecError` (field
    ``job_id``) when ``job_id`` is not a safe batch name; the spec is checked like a batch
    file's."""
    problem = name_problem(job_id, batch=True)
    if problem is not None:
        raise InvalidSpecError(
            f"job_id: {problem}", field="job_id", value=job_id, allowed=(SAFE_NAME_PATTERN,)
        )
    return Batch.from_specs(job_id, [spec])


def check_recorded(store: Store, batch: Batch, *, providers: Providers) -> None:
    """Before the engine starts: :func:`~reelforge.app.batchrun.check_resumable`, and a
    :class:`ConfigError` (exit 2) when the database already holds a job of that id for
    another spec (running the same job again continues it instead)."""
    check_resumable(store, batch.name, providers=providers)
    (wanted,) = batch.jobs
    recorded = store.jobs(batch.name)
    if recorded and [(job.key, job.spec) for job in recorded] != [(wanted.key, wanted.spec)]:
        raise ConfigError(
            f"job {batch.name} is already recorded in this database for another prompt or "
            "settings: give another job id, or another --db"
        )


async def run_one(
    engine: Engine,
    batch: Batch,
    *,
    out: Path,
    on_event: Callable[[GenerateEvent], None] | None = None,
) -> GenerateResult:
    """Record, enqueue and wait for the one-job ``batch`` on a running ``engine``, its files
    straight in ``out/<batch>/``; return how it ended, read from the store."""
    batch_id = await engine.submit(batch, out=out, flat=True)
    store = engine.store
    (job,) = store.jobs(batch_id)
    follow = _Follower(store, job.id, on_event) if on_event is not None else None
    await engine.wait(batch_id, on_update=follow)
    ended = store.get_job(job.id)
    return _result(store, ended, job_dir=out / batch_id)


@contextlib.contextmanager
def generate_database(chosen: str | Path | None) -> Iterator[str | Path]:
    """``chosen``; or, when it is ``None``, a throwaway SQLite database in a new temporary
    folder that is removed, with everything in it, on exit."""
    if chosen is not None:
        yield chosen
        return
    with throwaway_database() as url:
        yield url


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """The URL of a new SQLite database in a temporary folder, removed on exit."""
    folder = Path(tempfile.mkdtemp(prefix="reelforge-generate-"))
    try:
        yield f"sqlite:///{folder / 'reelforge.db'}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def chosen_database(db_url: str, settings: Settings) -> str | None:
    """``db_url`` if it is a database someone chose (``REELFORGE_DB_URL`` is set, or it is
    not the default ``.reelforge/reelforge.db`` of the current folder), else ``None``."""
    if settings.reelforge_db_url is not None:
        return db_url
    default = f"sqlite:///{DEFAULT_DB_PATH.expanduser().resolve()}"
    return None if db_url == default else db_url


class _Follower:
    """Turns the job's newly recorded events into :class:`GenerateEvent` s (an
    ``Engine.wait`` update hook: it reads the history at every check)."""

    def __init__(self, store: Store, job_id: str, notify: Callable[[GenerateEvent], None]) -> None:
        self._store = store
        self._job_id = job_id
        self._notify = notify
        self._seen = 0
        self._remote_id: str | None = None
        self._last: tuple[JobState, int] | None = None

    def __call__(self, _summary: object) -> None:
        for event in self._store.history(self._job_id):
            if event.id <= self._seen:
                continue
            self._seen = event.id
            found = self._event(event)
            if found is not None:
                self._notify(found)

    def _event(self, event: EventRow) -> GenerateEvent | None:
        variant: Variant | None = None
        message: str | None = None
        if event.kind is EventKind.ASSET:
            phase, variant = Phase.DOWNLOADED, Variant(str(event.data.get("variant")))
        elif event.kind is EventKind.NOTE:
            phase, message = Phase.NOTE, str(event.data.get("message", ""))
        elif event.kind in _STATUS_KINDS and event.state is not None:
            self._last = (event.state, event.progress or 0)
            if event.kind is EventKind.REMOTE_ID:
                remote = event.data.get("remote_id")
                self._remote_id = remote if isinstance(remote, str) else self._remote_id
                phase = Phase.SUBMITTED
            elif event.state is JobState.DOWNLOADING:
                phase = Phase.DOWNLOADING
            else:
                phase = Phase.STATUS
        else:
            return None
        state, progress = self._last or (event.state or JobState.PENDING, event.progress or 0)
        return GenerateEvent(
            phase=phase,
            state=state,
            progress=progress,
            at=event.at,
            remote_id=self._remote_id,
            variant=variant,
            message=message,
        )


def _result(store: Store, job: JobRow, *, job_dir: Path) -> GenerateResult:
    events = store.history(job.id)
    assets = {
        row.variant: DownloadResult(
            variant=row.variant,
            path=row.path,
            size=row.bytes,
            sha256=row.sha256,
            derived=row.derived,
        )
        for row in sorted(store.assets(job.id), key=lambda row: _VARIANTS.index(row.variant))
    }
    return GenerateResult(
        job_id=job.batch_id,
        spec=job.spec,
        state=job.state,
        remote_id=job.remote_id,
        job_dir=job_dir,
        estimated_cost=job.estimated_cost,
        cost=job.actual_cost,
        error=_failure(job, events),
        assets=assets,
        history=_history(events),
    )


def _failure(job: JobRow, events: list[EventRow]) -> FailureReason | None:
    """Why the job did not end ``done``; ``code`` and ``param`` come from the event that
    ended it, where the engine put them."""
    if job.state is JobState.DONE or (job.category is None and job.error is None):
        return None
    ending = next(
        (e for e in reversed(events) if e.kind in _STATUS_KINDS and e.state is job.state), None
    )
    data = ending.data if ending is not None else {}
    code, param = data.get("code"), data.get("param")
    return FailureReason(
        category=job.category or ErrorCategory.GENERATION_FAILED,
        message=job.error or f"the job ended {job.state.value}",
        code=code if isinstance(code, str) else None,
        param=param if isinstance(param, str) else None,
    )


def _history(events: list[EventRow]) -> tuple[StatusEntry, ...]:
    entries: list[StatusEntry] = []
    for event in events:
        if event.kind not in _STATUS_KINDS or event.state is None:
            continue
        progress = event.progress if event.progress is not None else 0
        last = entries[-1] if entries else None
        if last is None or (last.status, last.progress) != (event.state.value, progress):
            entries.append(StatusEntry(at=event.at, status=event.state.value, progress=progress))
    return tuple(entries)
