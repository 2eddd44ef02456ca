"""Exactly once under concurrency, slow creates and a lost database, with real processes.

Each test runs real ``reelforge run`` processes against ``reelforge sim`` whose creates take
many seconds (``faults.create_delay``: the server makes the job even if the client is gone,
as a real one would), and judges by the simulator's ground truth: creates per prompt and the
most videos in flight at once.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_harness import (
    CAP,
    BatchFile,
    SimFactory,
    Workspace,
    check_batch,
    read_jobs,
    read_notes,
    sim_config,
    write_batch,
)
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from reelforge.core.config import database_url
from reelforge.core.models import JobState
from reelforge.store import ExecutorRow, Store, StoreError

pytestmark = pytest.mark.slow


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _runner(workspace: Workspace, batch: BatchFile) -> ExecutorRow | None:
    """The live process running the batch, as the database says."""
    if not workspace.db.exists():
        return None
    try:
        with Store(database_url(workspace.db)) as store:
            return store.batch_runner(batch.name)
    except (OperationalError, StoreError):
        return None


def _submitting(workspace: Workspace, batch: BatchFile) -> int:
    """How many jobs have sent (or are about to send) their create; 0 before the tables exist."""
    if not workspace.db.exists():
        return 0
    try:
        jobs = read_jobs(workspace, batch)
    except (OperationalError, StoreError):
        return 0
    return sum(1 for job in jobs.values() if job.state is JobState.SUBMITTING)


def test_a_second_run_of_a_running_batch_stops_and_names_the_first(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """The same command again 1, 3 and 6 s after the first, with 12-second creates: each
    late-comer exits 2 naming the running process, and the first finishes with one create per
    prompt and never more than the cap in flight."""
    sim = make_sim(sim_config(time_scale=400, seed=11, create_delay=12.0))
    workspace = Workspace(folder=tmp_path, sim=sim, api_key="sk-test-two-processes")
    batch = write_batch(tmp_path, "two-processes", 12, tag=" two")

    first = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed arguments
        workspace.command(batch),
        env=workspace.env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # "After the first": once it runs the batch (start-up takes seconds on a busy machine).
        _wait_for(lambda: _runner(workspace, batch) is not None, 60, "the first run to start")
        started = time.monotonic()
        late = []
        for delay in (1.0, 3.0, 6.0):
            time.sleep(max(0.0, started + delay - time.monotonic()))
            late.append(workspace.run(batch, timeout=60))
        _stdout, stderr = first.communicate(timeout=240)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    for run in late:
        assert run.returncode == 2, run.describe()
        assert f"process {first.pid}" in run.stderr, run.stderr
        assert "already being run" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
    assert first.returncode == 0, stderr[-3000:]
    check_batch(workspace, batch)
    creates = sim.creates(workspace.key_id)
    assert len(creates) == 12
    assert sim.max_in_flight(workspace.key_id) <= CAP


def test_a_slow_create_killed_mid_air_is_adopted_not_sent_again(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Creates take 15 s; ``reelforge run`` is killed with -9 at 5 s, while every create is
    in the air; running it again finds each job once it lands and sends nothing twice."""
    sim = make_sim(sim_config(time_scale=400, seed=12, create_delay=15.0))
    workspace = Workspace(folder=tmp_path, sim=sim, api_key="sk-test-slow-create")
    batch = write_batch(tmp_path, "slow-create", 3, tag=" slow")

    process = workspace.start(batch)
    started = time.monotonic()
    _wait_for(lambda: _submitting(workspace, batch) == 3, 30, "three creates in the air")
    time.sleep(max(0.0, started + 5.0 - time.monotonic()))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert sim.creates(workspace.key_id) == [], "a create landed before the kill"
    jobs = read_jobs(workspace, batch)
    assert {job.state for job in jobs.values()} == {JobState.SUBMITTING}, jobs

    again = workspace.run(batch, timeout=240)

    assert again.returncode == 0, again.describe()
    jobs = check_batch(workspace, batch)
    assert len(sim.creates(workspace.key_id)) == 3
    notes = read_notes(workspace, batch)
    for key in jobs:
        assert any(note.startswith("reconciled: adopted") for note in notes[key]), notes[key]


def test_a_lost_database_does_not_pay_again_what_the_output_folder_records(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Killed mid-run with some videos created (and one create in the air), the database
    deleted: the run with a fresh database adopts every remote id its output folder records
    and reconciles the unanswered creates; one create per prompt. A different ``--db`` on the
    same ``--out`` after the batch ended creates nothing and reports every job done."""
    sim = make_sim(sim_config(time_scale=200, seed=13, create_delay=1.0))
    workspace = Workspace(folder=tmp_path, sim=sim, api_key="sk-test-lost-db")
    batch = write_batch(tmp_path, "lost-db", 6, tag=" lost")

    process = workspace.start(batch)
    _wait_for(lambda: len(sim.creates(workspace.key_id)) >= 3, 60, "three creates")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    for path in tmp_path.glob("reelforge.db*"):
        path.unlink()

    again = workspace.run(batch, timeout=240)

    assert again.returncode == 0, again.describe()
    check_batch(workspace, batch)
    assert len(sim.creates(workspace.key_id)) == 6

    other = Workspace(folder=tmp_path / "elsewhere", sim=sim, api_key=workspace.api_key)
    other.folder.mkdir()
    command = [*other.command(batch)]
    command[command.index("--out") + 1] = str(workspace.out)
    done = subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        command,
        env=other.env(),
        cwd=other.folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(sim.creates(workspace.key_id)) == 6, "a different --db paid again"
    assert "done already" in done.stderr
    shutil.rmtree(other.folder)


def test_cancel_of_a_video_the_provider_completed_keeps_downloads_and_charges_it(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """The run is killed while both jobs generate — the second right after its remote id was
    recorded, before its submit step's result was — and the provider then completes them
    before reelforge has looked. ``reelforge cancel`` checks first: nothing is deleted, the
    jobs are recorded completed, and the next run downloads each once (one download workflow
    per job, named after its attempt) and charges their price."""
    sim = make_sim(sim_config(time_scale=1, seed=14))
    workspace = Workspace(folder=tmp_path, sim=sim, api_key="sk-test-cancel-race")
    batch = write_batch(tmp_path, "cancel-race", 2, tag=" cancel")

    killed = workspace.run(batch, crash_at="after_remote_id_stored:2", timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.describe()
    assert len(sim.creates(workspace.key_id)) == 2
    assert all(job.remote_id for job in read_jobs(workspace, batch).values())
    sim.client.post("/_sim/advance", params={"seconds": "100000"}).raise_for_status()
    assert {video["status"] for video in sim.videos().values()} == {"completed"}

    canceled = subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        [
            *(sys.executable, "-m", "reelforge", "cancel", batch.name, "--json"),
            *("--db", str(workspace.db), "--base-url", sim.base_url),
        ],
        env=workspace.env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert canceled.returncode == 1, canceled.stderr[-3000:]
    outcomes = {job["outcome"] for job in json.loads(canceled.stdout)["jobs"]}
    assert outcomes == {"completed"}, canceled.stdout
    deletes = [r for r in sim.log()["requests"] if r["method"] == "DELETE"]
    assert deletes == [], deletes
    assert {job.state for job in read_jobs(workspace, batch).values()} == {JobState.COMPLETED}

    again = workspace.run(batch, timeout=120)

    assert again.returncode == 0, again.describe()
    check_batch(workspace, batch)
    assert len(sim.creates(workspace.key_id)) == 2
    with Store(database_url(workspace.db)) as store, store.engine.connect() as conn:
        names = conn.execute(text("SELECT workflow_uuid FROM workflow_status")).scalars().all()
    downloads = sorted(name for name in names if ".download." in name)
    expected = sorted(f"{job.id}.download.1" for job in read_jobs(workspace, batch).values())
    assert downloads == expected, names
