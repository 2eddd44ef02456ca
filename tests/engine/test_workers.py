"""``reelforge run --detach`` enqueues a batch and returns; ``reelforge worker`` processes run it.

Real processes against a ``reelforge sim`` process, on SQLite and PostgreSQL: two workers share
the batch (each runs some of its jobs, DBOS's executor ids say which) and never pass the
account's cap together (the simulator's own count); a worker killed with -9 has its jobs
finished by the other within a bounded time, none created twice; a worker with another
account's credentials never takes the batch's jobs (each account has its own queue); SIGTERM
stops a worker with exit 0; bad input exits 2 before anything is recorded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from engine_harness import (
    CAP,
    BatchFile,
    SimFactory,
    SimProcess,
    Workspace,
    api_key_id,
    sim_config,
    write_batch,
)
from typer.testing import CliRunner
from worker_harness import (
    KEY,
    check_finished,
    detach,
    executors_of,
    read_with_retry,
    unfinished,
    wait_until,
    workers,
)

from reelforge.cli.main import app
from reelforge.core.models import JobState
from reelforge.engine.outcome import FINAL

JOBS = 8
OTHER_KEY = "sk-workers-0002"


def _detached(
    make_sim: SimFactory,
    db_url: str,
    folder: Path,
    name: str,
    count: int,
    *,
    time_scale: float,
    seed: int,
) -> tuple[SimProcess, Workspace, BatchFile]:
    """A simulator and a batch of ``count`` jobs recorded and enqueued by ``run --detach``."""
    sim = make_sim(
        sim_config(time_scale=time_scale, seed=seed, media_scale=0.125, max_in_flight=CAP)
    )
    batch = write_batch(folder, name, count)
    enqueued = detach(db_url, sim, batch, folder)
    assert enqueued.returncode == 0, enqueued.stderr[-4000:]
    return sim, Workspace(folder=folder, sim=sim, api_key=KEY), batch


@pytest.mark.slow  # two worker processes and a batch: ~30 s each backend
def test_a_detached_batch_is_run_by_two_workers_within_the_cap(
    make_sim: SimFactory, db_url: str, tmp_path: Path
) -> None:
    sim = make_sim(sim_config(time_scale=40, seed=71, media_scale=0.125, max_in_flight=CAP))
    workspace = Workspace(folder=tmp_path, sim=sim, api_key=KEY)
    batch = write_batch(tmp_path, "detached", JOBS)

    started = time.monotonic()
    enqueued = detach(db_url, sim, batch, tmp_path)
    took = time.monotonic() - started
    assert enqueued.returncode == 0, enqueued.stderr[-4000:]
    assert json.loads(enqueued.stdout) | {"db": None} == {
        "batch": "detached",
        "jobs": JOBS,
        "enqueued": JOBS,
        "counts": {state.value: JOBS if state is JobState.PENDING else 0 for state in JobState},
        "db": None,
    }
    assert took < 30, f"--detach took {took:.1f} s"
    # Recorded and queued, and nothing sent: no worker runs yet.
    assert sim.creates(api_key_id(KEY)) == []
    queued = executors_of(db_url)
    jobs = read_with_retry(db_url, lambda store: store.jobs("detached"))
    assert {job.id for job in jobs} <= set(queued)

    with workers(db_url, sim, tmp_path, concurrency=CAP // 2) as pool:
        first, second = pool.start_many(2)
        wait_until(lambda: unfinished(db_url, "detached") == 0, "the batch", timeout=90)
        ran = executors_of(db_url)
        by_worker = {
            worker.executor: sorted(job.id for job in jobs if ran[job.id] == worker.executor)
            for worker in (first, second)
        }
        assert all(by_worker.values()), by_worker  # each worker ran some of the jobs
        assert pool.terminate_all() == [0, 0], first.stderr()[-4000:] + second.stderr()[-4000:]
        assert "stopped" in first.stderr()

    check_finished(db_url, workspace, batch)
    # The two workers together never had more than the cap in flight (the simulator's count).
    assert 1 <= sim.max_in_flight(api_key_id(KEY)) <= CAP


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_killed_worker_s_jobs_are_finished_by_the_other(
    make_sim: SimFactory, db_url: str, tmp_path: Path
) -> None:
    sim, workspace, batch = _detached(
        make_sim, db_url, tmp_path, "killed", 16, time_scale=20, seed=72
    )

    with workers(db_url, sim, tmp_path, concurrency=CAP // 2) as pool:
        victim, survivor = pool.start_many(2)

        def victim_holds_jobs() -> bool:
            ran = executors_of(db_url)
            open_jobs = read_with_retry(
                db_url,
                lambda store: [job.id for job in store.jobs("killed") if job.state not in FINAL],
            )
            return any(ran.get(job) == victim.executor for job in open_jobs)

        wait_until(victim_holds_jobs, "the first worker to run jobs", timeout=60)
        held = read_with_retry(
            db_url,
            lambda store: {
                job.id
                for job in store.jobs("killed")
                if job.state not in FINAL and executors_of(db_url).get(job.id) == victim.executor
            },
        )
        victim.kill()
        # Bounded: the survivor sees the dead process at its next look (5 s) and recovers its
        # workflows; a create the kill left unanswered is settled within its resend window
        # (create timeout + listing lag: 40 s).
        took = wait_until(
            lambda: unfinished(db_url, "killed") == 0, "the survivor to end the batch", timeout=120
        )
        assert took < 100, took
        ran = executors_of(db_url)
        assert held, "the killed worker held no job"
        assert {ran[job] for job in held} == {survivor.executor}, (held, ran)
        assert survivor.terminate() == 0, survivor.stderr()[-4000:]

    check_finished(db_url, workspace, batch)


@pytest.mark.slow  # two worker processes and a batch: ~25 s each backend
def test_a_worker_with_other_credentials_never_takes_the_batch_s_jobs(
    make_sim: SimFactory, db_url: str, tmp_path: Path
) -> None:
    sim, workspace, batch = _detached(
        make_sim, db_url, tmp_path, "theirs", 6, time_scale=40, seed=73
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    with (
        workers(db_url, sim, elsewhere, key=OTHER_KEY) as strangers,
        workers(db_url, sim, tmp_path) as owners,
    ):
        # Same endpoint, another key: another account. Given time to look at every queue
        # (ten times a second), it takes none of the batch's jobs: it cannot send them.
        stranger = strangers.start()
        time.sleep(3)
        assert stranger.process.poll() is None, stranger.stderr()[-4000:]
        assert unfinished(db_url, "theirs") == 6
        assert sim.creates(api_key_id(OTHER_KEY)) == []
        jobs = read_with_retry(db_url, lambda store: store.jobs("theirs"))
        assert {job.state for job in jobs} == {JobState.PENDING}

        owner = owners.start()
        wait_until(lambda: unfinished(db_url, "theirs") == 0, "the batch", timeout=90)
        ran = executors_of(db_url)
        assert {ran[job.id] for job in jobs} == {owner.executor}, (ran, stranger.executor)
        assert strangers.terminate_all() == [0], stranger.stderr()[-4000:]
        assert owners.terminate_all() == [0], owner.stderr()[-4000:]
        assert "no credentials" not in stranger.stderr()

    check_finished(db_url, workspace, batch)
    assert sim.creates(api_key_id(OTHER_KEY)) == []


def test_bad_input_exits_2_naming_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SORA_API_BASE_URL", "REELFORGE_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"key": "a", "prompt": "a kite", "seconds": 7}) + "\n")
    good = write_batch(tmp_path, "good", 2)
    db = str(tmp_path / "db.sqlite")
    nowhere = ("--db", db, "--base-url", "http://127.0.0.1:9/v1")

    field = runner.invoke(app, ["run", str(bad), "--detach", *nowhere], env={"OPENAI_API_KEY": KEY})
    assert field.exit_code == 2, field.output
    assert "seconds" in field.stderr

    embedded = runner.invoke(app, ["run", str(good.path), "--detach", "--db", db])
    assert embedded.exit_code == 2, embedded.output
    assert "--detach needs a provider that outlives this command" in " ".join(
        embedded.stderr.split()
    )
    forced = runner.invoke(
        app,
        ["run", str(good.path), "--detach", "--simulator", *nowhere],
        env={"OPENAI_API_KEY": KEY},
    )
    assert forced.exit_code == 2, forced.output

    keyless = runner.invoke(app, ["worker", *nowhere])
    assert keyless.exit_code == 2, keyless.output
    assert "OPENAI_API_KEY" in keyless.stderr

    assert not (tmp_path / "db.sqlite").exists()  # nothing was recorded anywhere
