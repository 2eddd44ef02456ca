"""One durable workflow per job: admit → submit → (wait → poll)*, then a download workflow.

The job workflow holds one of the account's in-flight slots (its queue is partitioned by
account) from admission until the provider reports the job finished. Downloading does not
need the provider's capacity, so it runs as a workflow of its own on the download queue, and
the slot goes to the next job at once.

The job workflow's id is the job's id (a re-run gets ``<job>~<n>``); the download's is
``<job>.download.<attempt>``. Enqueueing either twice is harmless. Control flow depends only
on step results, which DBOS records, so a recovered workflow replays to where it was and
continues. Waiting is ``recv`` on the ``wake`` topic with
a timeout: a webhook or ``reelforge poke`` wakes it at once.
"""

from __future__ import annotations

from dbos import DBOS, SetWorkflowID

from reelforge.core.models import JobState
from reelforge.core.polling import Observation
from reelforge.engine import steps
from reelforge.engine.context import current
from reelforge.engine.outcome import FINAL

__all__ = ["DOWNLOAD_QUEUE", "WAKE_TOPIC", "download_id", "download_workflow", "job_workflow"]

WAKE_TOPIC = "wake"
DOWNLOAD_QUEUE = "reelforge-download"

_POLLING = frozenset({JobState.QUEUED, JobState.IN_PROGRESS})


@DBOS.workflow(name="reelforge.job")
async def job_workflow(job_id: str) -> str:
    """Run one job to ``done``, ``failed``, ``rejected``, ``canceled`` or ``needs_review``."""
    state = JobState((await steps.admit(job_id))["state"])
    hint: float | None = None
    created_at: float | None = None
    strikes = 0
    while state is JobState.WAITING or state is JobState.SUBMITTING:
        result = await steps.submit(job_id, strikes)
        state = JobState(result["state"])
        strikes = int(result.get("strikes", 0))
        hint = result.get("hint")
        created_at = result.get("created_at")
        wait = float(result.get("wait", 0.0))
        if wait > 0:
            await DBOS.recv_async(WAKE_TOPIC, timeout_seconds=wait)
    if state in FINAL:
        return state.value

    history: list[Observation] = []
    strikes = 0
    while state in _POLLING:
        ctx = current()
        job = ctx.store.get_job(job_id)
        delay = ctx.poll.next_delay(
            history,
            hint=hint,
            started_at=created_at,
            expected=ctx.durations.expected(job.model, job.seconds, job.size),
        )
        if strikes:
            delay = ctx.poll.first  # an unusable answer: ask again soon, a bounded few times
        await DBOS.recv_async(WAKE_TOPIC, timeout_seconds=delay)
        result = await steps.poll(job_id, strikes)
        state = JobState(result["state"])
        strikes = int(result.get("strikes", 0))
        hint = result["hint"]
        created_at = result["created_at"]
        history.append(Observation(at=float(result["at"]), progress=int(result["progress"])))

    if state in (JobState.COMPLETED, JobState.DOWNLOADING):
        queue = await DBOS.retrieve_queue_async(DOWNLOAD_QUEUE)
        assert queue is not None
        with SetWorkflowID(download_id(job_id, current().store.get_job(job_id).attempt)):
            await queue.enqueue_async(download_workflow, job_id)
    return state.value


def download_id(job_id: str, attempt: int) -> str:
    """The id of the download workflow of a job's ``attempt``-th submission."""
    return f"{job_id}.download.{attempt}"


@DBOS.workflow(name="reelforge.download")
async def download_workflow(job_id: str) -> str:
    """Fetch and verify every asset of a completed job: ``done``, or ``failed`` if expired."""
    return str((await steps.download(job_id))["state"])
