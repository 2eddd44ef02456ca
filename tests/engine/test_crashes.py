"""``kill -9`` of ``reelforge run`` at every labelled crash point, and at random moments.

Each test crashes a real ``reelforge run`` process (SIGKILL, nothing flushed or cleaned up),
checks that the crash left the state it is named for, runs the same command again against the
same simulator, database and output folder, and then checks every promise of the engine: each
job done, no prompt created twice, no created video left unowned, never more than the cap in
flight, every file verified against the server, and the ledger exact.

The simulator does not enforce the cap here, so its measured in-flight maximum is the engine's.
"""

from __future__ import annotations

import contextlib
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_harness import (
    BatchFile,
    SimProcess,
    Workspace,
    check_batch,
    read_jobs,
    sim_config,
    start_sim,
    write_batch,
)
from sqlalchemy.exc import OperationalError

from reelforge.core.models import JobState
from reelforge.engine.crash import CrashPoint
from reelforge.store import JobRow, StoreError

pytestmark = pytest.mark.slow

SMALL_BATCH = 8
KILLED = -signal.SIGKILL
VIDEO_BYTES = 256 * 1024


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """One simulator for the module; each test uses its own key, so its own jobs and log."""
    # Videos of 256 KiB arrive in several chunks, so a download can die part-way.
    config = sim_config(time_scale=200, seed=5, large_asset_bytes=VIDEO_BYTES)
    with start_sim(config, tmp_path_factory.mktemp("crash-sim")) as process:
        yield process


def _workspace(sim: SimProcess, folder: Path, name: str) -> Workspace:
    return Workspace(folder=folder, sim=sim, api_key=f"sk-test-{name}")


# -- what each crash must have left behind ----------------------------------------------------

Evidence = Callable[[Workspace, BatchFile, dict[str, JobRow]], None]


def _created_prompts(workspace: Workspace) -> set[str]:
    return {create["prompt"] for create in workspace.sim.creates(workspace.key_id)}


def _submitting(jobs: dict[str, JobRow]) -> list[JobRow]:
    """Jobs caught between their intent and their remote id (another may be mid-create too)."""
    found = [job for job in jobs.values() if job.state is JobState.SUBMITTING]
    for job in found:
        assert job.intent_token is not None, job.key
        assert job.remote_id is None, job.key
    return found


def _no_intent_yet(workspace: Workspace, batch: BatchFile, jobs: dict[str, JobRow]) -> None:
    assert any(job.state is JobState.WAITING for job in jobs.values()), jobs


def _intent_not_sent(workspace: Workspace, batch: BatchFile, jobs: dict[str, JobRow]) -> None:
    created = _created_prompts(workspace)
    unsent = [job.key for job in _submitting(jobs) if job.prompt not in created]
    assert unsent, "no job has an intent whose create was never sent"


def _created_not_recorded(workspace: Workspace, batch: BatchFile, jobs: dict[str, JobRow]) -> None:
    created = _created_prompts(workspace)
    orphans = [job.key for job in _submitting(jobs) if job.prompt in created]
    assert orphans, "no job was created on the server without its remote id recorded"


def _polling(workspace: Workspace, batch: BatchFile, jobs: dict[str, JobRow]) -> None:
    moving = {JobState.QUEUED, JobState.IN_PROGRESS}
    assert any(job.state in moving and job.remote_id for job in jobs.values()), jobs


def _downloading(workspace: Workspace, batch: BatchFile, jobs: dict[str, JobRow]) -> None:
    assert any(job.state is JobState.DOWNLOADING for job in jobs.values()), jobs
    parts = list((workspace.out / batch.name).rglob("*.part"))
    assert parts, "no partial download was left by the crash"


def _nothing_lost_yet(workspace: Workspace, jobs: dict[str, JobRow]) -> None:
    """Every video created so far is a job's remote id, or awaits its job's reconciliation."""
    owned = {job.remote_id for job in jobs.values() if job.remote_id is not None}
    pending = {job.prompt for job in _submitting(jobs)}
    for create in workspace.sim.creates(workspace.key_id):
        assert create["video_id"] in owned or create["prompt"] in pending, create


CRASHES: dict[CrashPoint, tuple[int, Evidence]] = {
    # The fifth create: four jobs are in flight and a slot has just been freed.
    CrashPoint.BEFORE_INTENT: (5, _no_intent_yet),
    CrashPoint.AFTER_INTENT: (5, _intent_not_sent),
    CrashPoint.AFTER_POST_SENT: (5, _created_not_recorded),
    CrashPoint.BEFORE_REMOTE_ID_STORED: (5, _created_not_recorded),
    CrashPoint.AFTER_REMOTE_ID_STORED: (5, _polling),
    # Some polls into the first wave of jobs.
    CrashPoint.MID_POLL: (6, _polling),
    # Part-way through a video (each arrives in at least four chunks).
    CrashPoint.MID_DOWNLOAD: (5, _downloading),
}


def test_every_crash_point_is_covered() -> None:
    assert set(CRASHES) == set(CrashPoint)


@pytest.mark.parametrize("point", list(CRASHES), ids=str)
def test_a_crash_at_a_labelled_point_is_recovered_by_running_again(
    point: CrashPoint, sim: SimProcess, tmp_path: Path
) -> None:
    hit, evidence = CRASHES[point]
    workspace = _workspace(sim, tmp_path, point.value)
    batch = write_batch(tmp_path, f"crash-{point.value}", SMALL_BATCH, tag=f" {point.value}")

    crashed = workspace.run(batch, crash_at=f"{point.value}:{hit}", timeout=60)

    assert crashed.returncode == KILLED, crashed.describe()
    jobs = read_jobs(workspace, batch)
    assert not all(job.state is JobState.DONE for job in jobs.values())
    evidence(workspace, batch, jobs)
    _nothing_lost_yet(workspace, jobs)

    finished = workspace.run(batch, timeout=90)

    assert finished.returncode == 0, finished.describe()
    check_batch(workspace, batch)


@pytest.mark.timeout(240)
def test_five_random_kills_lose_nothing_and_create_nothing_twice(
    sim: SimProcess, tmp_path: Path
) -> None:
    workspace = _workspace(sim, tmp_path, "random-kills")
    batch = write_batch(tmp_path, "random-kills", 40, tag=" random")
    rng = random.Random(20261125)
    progress: list[int] = []

    for _ in range(5):
        before = len(workspace.sim.creates(workspace.key_id))
        process = workspace.start(batch)
        try:
            # Start-up takes seconds (more on a busy machine): kill at a random moment once
            # this run has sent a create, or after 20 s if it has none to send yet (jobs an
            # earlier kill left between intent and answer wait out their resend window).
            deadline = time.monotonic() + 20
            while (
                len(workspace.sim.creates(workspace.key_id)) <= before
                and time.monotonic() < deadline
            ):
                time.sleep(0.1)
            time.sleep(rng.uniform(0.1, 2.5))
            assert process.poll() is None, "the batch ended before it could be killed"
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            returncode = process.wait(timeout=30)
        assert returncode == KILLED
        with contextlib.suppress(OperationalError, StoreError):  # killed before its schema was made
            jobs = read_jobs(workspace, batch)
            _nothing_lost_yet(workspace, jobs)
            progress.append(sum(job.state is JobState.DONE for job in jobs.values()))

    created_before_last_run = len(_created_prompts(workspace))
    finished = workspace.run(batch, timeout=150)

    assert finished.returncode == 0, finished.describe()
    check_batch(workspace, batch)
    # The kills hit a batch at work: jobs had been created and finished, not all of them.
    assert created_before_last_run, "no kill happened after the first create"
    assert 0 < progress[-1] < len(batch.specs), progress
