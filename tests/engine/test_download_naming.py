"""A job's download workflow is named after its attempt whichever step finds it completed.

A job workflow started again (the batch's watcher restarting one, a recovered one) may find its
job ``completed`` already at admission, before any poll: the download it enqueues must be
``<job>.download.<attempt>``, the very workflow the watcher enqueues for a completed job, or two
downloads of one job race for its files.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from dbos import DBOS, SetWorkflowID

from reelforge.core.models import JobSpec, JobState
from reelforge.engine import Engine
from reelforge.engine.workflow import job_workflow
from reelforge.engine.workflow_ids import download_id, numbered
from reelforge.providers import Endpoint, Providers
from reelforge.store import NewJob, job_id


def _engine(db_url: str) -> Engine:
    # Nothing answers on port 9: the download never gets anywhere, and need not.
    providers = Providers({"openai": Endpoint(provider="openai", base_url="http://127.0.0.1:9/v1")})
    return Engine(db_url=db_url, providers=providers)


async def test_a_workflow_that_finds_its_job_completed_at_admission_names_the_attempt(
    db_url: str, tmp_path: Path
) -> None:
    async with _engine(db_url) as engine:
        store = engine.store
        [account] = engine.accounts
        store.upsert_batch("again", name="again", out_dir=tmp_path / "out")
        spec = JobSpec(prompt="a lighthouse at dawn", model="sora-2")
        store.add_jobs(
            "again",
            [NewJob(key="k", spec=spec, position=0, account=account, estimated_cost=Decimal(1))],
        )
        job = job_id("again", "k")
        store.transition(job, JobState.WAITING)
        assert store.record_remote_id(job, store.record_intent(job), "video_again")
        store.transition(job, JobState.COMPLETED, progress=100)
        attempt = store.get_job(job).attempt
        assert attempt > 0

        with SetWorkflowID(numbered(job, 2)):
            handle = await DBOS.start_workflow_async(job_workflow, job)
        assert await asyncio.wait_for(handle.get_result(), 60) == JobState.COMPLETED.value

        found = await DBOS.list_workflows_async(load_input=False, load_output=False)
        downloads = [w.workflow_id for w in found if ".download." in w.workflow_id]
        assert downloads == [download_id(job, attempt)]
        await DBOS.cancel_workflow_async(download_id(job, attempt))
