"""The job workflow's durable steps: :mod:`reelforge.engine.logic` recorded by DBOS."""

from __future__ import annotations

from dbos import DBOS

from reelforge.engine import logic
from reelforge.engine.context import current
from reelforge.engine.logic import Admitted, Downloaded, Polled, Submitted

__all__ = ["admit", "download", "now", "poll", "submit"]


@DBOS.step(name="reelforge.admit")
async def admit(job_id: str) -> Admitted:
    """See :func:`reelforge.engine.logic.admit`."""
    return await logic.admit(job_id)


@DBOS.step(name="reelforge.submit")
async def submit(job_id: str, strikes: int = 0) -> Submitted:
    """See :func:`reelforge.engine.logic.submit`."""
    return await logic.submit(job_id, strikes)


@DBOS.step(name="reelforge.poll")
async def poll(job_id: str, strikes: int = 0) -> Polled:
    """See :func:`reelforge.engine.logic.poll`."""
    return await logic.poll(job_id, strikes)


@DBOS.step(name="reelforge.download")
async def download(job_id: str) -> Downloaded:
    """See :func:`reelforge.engine.logic.download`."""
    return await logic.download(job_id)


@DBOS.step(name="reelforge.now")
async def now() -> float:
    """The engine clock's time, recorded (a workflow reads time only through a step)."""
    return current().clock.now()
