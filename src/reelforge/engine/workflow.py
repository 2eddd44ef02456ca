"""One durable workflow per job: admit → submit → (wait → poll)*, then a download workflow.

The job workflow holds one of the account's in-flight slots (it runs from the account's own
queue, whose concurrency is the cap) from admission until the provider reports the job
finished — or, for a create whose outcome cannot be found out (an endpoint that cannot list),
until the job's timeout has passed since the create was sent: the provider may still be
running it. Downloading does not need the provider's capacity, so it runs as a workflow of its
own, started by the job workflow as it returns (a child workflow, in the same process), and
the slot goes to the next job at once. A download a watcher starts for a job whose workflow is
gone goes on the account's download queue.

Workflow ids follow :mod:`reelforge.engine.workflow_ids` (the job's id; its download's
``<job>.download.<attempt>``). Enqueueing either twice is harmless. Control flow depends only
on step results, which DBOS records, so a recovered workflow replays to where it was and
continues. Waiting is ``recv`` on the ``wake`` topic with
a timeout: ``reelforge poke`` and the webhook receivers of ``reelforge serve`` wake it at once.
A job whose provider pushes its completion (``pushed`` in the step results) waits up to the
policy's safety net between checks instead: the webhook wakes it when the job ends, and the
poll step applies the status the verified webhook recorded instead of asking the provider
(the step's result, recorded, is all the workflow goes by).
"""

from __future__ import annotations

from dbos import DBOS, SetWorkflowID

from reelforge.core.models import JobState
from reelforge.core.polling import Observation
from reelforge.engine import steps
from reelforge.engine.context import current
from reelforge.engine.logic import Polled, Submitted
from reelforge.engine.outcome import FINAL
from reelforge.engine.workflow_ids import download_id

__all__ = ["WAKE_TOPIC", "download_workflow", "job_workflow"]

WAKE_TOPIC = "wake"

_POLLING = frozenset({JobState.QUEUED, JobState.IN_PROGRESS})


@DBOS.workflow(name="reelforge.job")
async def job_workflow(job_id: str) -> str:
    """Run one job to ``done``, ``failed``, ``rejected``, ``canceled`` or ``needs_review``."""
    admitted = await steps.admit(job_id)
    state = admitted.state
    submitted = Submitted(state=state, attempt=admitted.attempt)
    while state is JobState.WAITING or state is JobState.SUBMITTING:
        submitted = await steps.submit(job_id, submitted.strikes, submitted.since)
        state = submitted.state
        if submitted.wait > 0:
            await DBOS.recv_async(WAKE_TOPIC, timeout_seconds=submitted.wait)
    if submitted.hold_until is not None:
        await _hold_slot(submitted.hold_until)
    if state in FINAL:
        return state.value

    polled = Polled(
        state=state,
        progress=0,
        at=submitted.created_at or 0.0,
        hint=submitted.hint,
        created_at=submitted.created_at,
        expected=submitted.expected,
        attempt=submitted.attempt,
        pushed=submitted.pushed,
    )
    history: list[Observation] = []
    policy = current().poll  # configuration, the same on every replay of this process
    while state in _POLLING:
        delay = policy.next_delay(
            history,
            hint=polled.hint,
            started_at=polled.created_at,
            expected=polled.expected,
            pushed=polled.pushed,
        )
        if polled.strikes:
            delay = policy.first  # an unusable answer: ask again soon, a bounded few times
        await DBOS.recv_async(WAKE_TOPIC, timeout_seconds=delay)
        polled = await steps.poll(job_id, polled.strikes)
        state = polled.state
        history.append(Observation(at=polled.at, progress=polled.progress))

    if state in (JobState.COMPLETED, JobState.DOWNLOADING):
        # Started at once in this process (a child workflow, recovered like any other), not
        # enqueued: no wait for the download queue's next poll. The same id enqueued by a
        # watcher (:meth:`Engine.take_over`) or started already is the same workflow.
        with SetWorkflowID(download_id(job_id, polled.attempt)):
            await DBOS.start_workflow_async(download_workflow, job_id)
    return state.value


async def _hold_slot(until: float) -> None:
    """Keep this workflow (and so the account's in-flight slot it holds) until ``until``, an
    epoch time: a create it sent may still be running on the provider, which counts it."""
    left = until - await steps.now()
    if left > 0:
        await DBOS.sleep_async(left)


@DBOS.workflow(name="reelforge.download")
async def download_workflow(job_id: str) -> str:
    """Fetch and verify every asset of a completed job: ``done``, or ``failed`` if expired.
    A video not ready yet (a webhook said it was) is downloaded again after the step's wait."""
    downloaded = await steps.download(job_id)
    while downloaded.state is JobState.COMPLETED and downloaded.wait > 0:
        await DBOS.sleep_async(downloaded.wait)
        downloaded = await steps.download(job_id, downloaded.strikes)
    return downloaded.state.value
