"""The job workflow's durable steps: :mod:`reelforge.engine.logic` recorded by DBOS."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from dbos import DBOS

from reelforge.core.models import JobState
from reelforge.engine import logic, records
from reelforge.engine.context import current
from reelforge.engine.logic import Admitted, Downloaded, Polled, StepResult, Submitted
from reelforge.engine.outcome import FINAL

__all__ = ["admit", "download", "now", "poll", "submit"]


_R = TypeVar("_R", bound=StepResult)
_DOWNLOADING = frozenset({JobState.COMPLETED, JobState.DOWNLOADING})
_P = TypeVar("_P", Submitted, Polled)


def _pushed(job_id: str, result: _P) -> _P:
    """The result, saying whether the job's provider pushes its completion (webhooks on), so
    the workflow polls it only as a safety net."""
    ctx = current()
    if not ctx.pushed or result.state in FINAL:
        return result
    pushed = ctx.store.get_job(job_id).account in ctx.pushed
    return dataclasses.replace(result, pushed=pushed) if pushed else result


def _ended(job_id: str, result: _R) -> _R:
    """A step that ended its job leaves ``job.json`` saying how (done jobs write their own)."""
    if result.state in FINAL and result.state is not JobState.DONE:
        records.write_ending(current().store, job_id)
    return result


def _attempt(job_id: str, result: _R) -> _R:
    """The result, naming the job's attempt when the job is ``completed`` or ``downloading``:
    the workflow goes to the download next, whichever step it learned that from (a workflow
    started again finds the job completed at admission; a recovered one, at its submit)."""
    if result.state not in _DOWNLOADING or result.attempt:
        return result
    return dataclasses.replace(result, attempt=current().store.get_job(job_id).attempt)


@DBOS.step(name="reelforge.admit")
async def admit(job_id: str) -> Admitted:
    """See :func:`reelforge.engine.logic.admit`."""
    return _attempt(job_id, await logic.admit(job_id))


@DBOS.step(name="reelforge.submit")
async def submit(job_id: str, strikes: int = 0, since: float | None = None) -> Submitted:
    """See :func:`reelforge.engine.logic.submit`."""
    result = _attempt(job_id, await logic.submit(job_id, strikes, since))
    return _pushed(job_id, _ended(job_id, result))


@DBOS.step(name="reelforge.poll")
async def poll(job_id: str, strikes: int = 0) -> Polled:
    """See :func:`reelforge.engine.logic.poll`."""
    result = _attempt(job_id, await logic.poll(job_id, strikes))
    return _pushed(job_id, _ended(job_id, result))


@DBOS.step(name="reelforge.download")
async def download(job_id: str, strikes: int = 0) -> Downloaded:
    """See :func:`reelforge.engine.logic.download`."""
    return _ended(job_id, await logic.download(job_id, strikes))


@DBOS.step(name="reelforge.now")
async def now() -> float:
    """The engine clock's time, recorded (a workflow reads time only through a step)."""
    return current().clock.now()
