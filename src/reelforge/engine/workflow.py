"""One durable workflow per job: admit → submit → (wait → poll)* → download.

The workflow's id is the job's id (a retry gets ``<job>~<n>``), so enqueueing a job twice is
harmless. Its control flow depends only on step results, which DBOS records, so a recovered
workflow replays to where it was and continues. Waiting is ``recv`` on the ``wake`` topic with
a timeout: a webhook or ``reelforge poke`` wakes it at once.
"""

from __future__ import annotations

from dbos import DBOS

from reelforge.core.models import JobState
from reelforge.core.polling import Observation
from reelforge.engine import steps
from reelforge.engine.context import current
from reelforge.engine.outcome import FINAL

__all__ = ["WAKE_TOPIC", "job_workflow"]

WAKE_TOPIC = "wake"

_POLLING = frozenset({JobState.QUEUED, JobState.IN_PROGRESS})


@DBOS.workflow(name="reelforge.job")
async def job_workflow(job_id: str) -> str:
    """Run one job to ``done``, ``failed``, ``rejected``, ``canceled`` or ``needs_review``."""
    state = JobState((await steps.admit(job_id))["state"])
    hint: float | None = None
    created_at: float | None = None
    while state is JobState.WAITING or state is JobState.SUBMITTING:
        result = await steps.submit(job_id)
        state = JobState(result["state"])
        hint = result.get("hint")
        created_at = result.get("created_at")
        wait = float(result.get("wait", 0.0))
        if wait > 0:
            await DBOS.recv_async(WAKE_TOPIC, timeout_seconds=wait)
    if state in FINAL:
        return state.value

    history: list[Observation] = []
    while state in _POLLING:
        ctx = current()
        job = ctx.store.get_job(job_id)
        delay = ctx.poll.next_delay(
            history,
            hint=hint,
            started_at=created_at,
            expected=ctx.durations.expected(job.model, job.seconds, job.size),
        )
        await DBOS.recv_async(WAKE_TOPIC, timeout_seconds=delay)
        result = await steps.poll(job_id)
        state = JobState(result["state"])
        hint = result["hint"]
        created_at = result["created_at"]
        history.append(Observation(at=float(result["at"]), progress=int(result["progress"])))

    if state in (JobState.COMPLETED, JobState.DOWNLOADING):
        state = JobState((await steps.download(job_id))["state"])
    return state.value
