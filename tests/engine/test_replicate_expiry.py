"""Replicate removes an API prediction's files about an hour after it completes.

A real ``reelforge run`` (3 in flight, 6 jobs) is paused (SIGSTOP) once its first three videos
are on disk and the last three predictions are running; while it is stopped the simulator's
clock jumps past Replicate's retention, so those three complete and have their data removed
(``data_removed: true``); then the run is resumed (SIGCONT). The first three are ``done``;
the last three end ``failed`` with the ``expired`` category and a reason that says so — never
stuck, never created again, and charged (they were made).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from engine_harness import SimFactory, SimProcess, api_key_id, clean_env, sim_config

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState
from reelforge.core.paths import database_url
from reelforge.store import Store

pytestmark = pytest.mark.slow

TOKEN = "r8-expiry"
JOBS = 6
CAP = 3
RETENTION = 3600.0
"""Simulated seconds from completion to removal (Replicate's hour)."""


def _creates(sim: SimProcess) -> list[dict[str, object]]:
    return [c for c in sim.log()["creates"] if c["api_key_id"] == api_key_id(TOKEN)]


def _removed(sim: SimProcess, prediction_id: str) -> bool:
    root = sim.base_url.removesuffix("/v1")
    response = httpx.get(
        f"{root}/v1/predictions/{prediction_id}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    response.raise_for_status()
    return bool(response.json()["data_removed"])


def _wait(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _write_batch(folder: Path) -> Path:
    batch = folder / "expiry.jsonl"
    lines = [
        {
            "key": f"clip-{i}",
            "prompt": f"clip {i}: paper boats on a canal",
            "provider": "replicate",
            "model": "google/veo-3.1-fast",
            "seconds": 4,
        }
        for i in range(JOBS)
    ]
    batch.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return batch


@pytest.mark.timeout(240)
def test_files_removed_while_the_batch_was_paused_end_expired_and_the_rest_done(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    # At 10x a 4 s clip takes about 8 real seconds: time to pause between the two waves.
    config = sim_config(time_scale=10, seed=31, media_scale=0.25)
    config["replicate"] = {"data_retention": RETENTION}
    sim = make_sim(config)
    batch = _write_batch(tmp_path)
    env = clean_env(REPLICATE_API_TOKEN=TOKEN, REPLICATE_BASE_URL=sim.base_url.removesuffix("/v1"))
    command = [
        *(sys.executable, "-m", "reelforge", "run", str(batch), "--json"),
        *("--db", str(tmp_path / "reelforge.db"), "--out", str(tmp_path / "out")),
        *("--max-in-flight", str(CAP)),
    ]
    videos = tmp_path / "out" / "expiry"
    process = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed arguments
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        _wait(
            lambda: len(list(videos.glob("*/video.mp4"))) >= CAP,
            timeout=120,
            what="the first wave's videos on disk",
        )
        os.kill(process.pid, signal.SIGSTOP)
        while len(_creates(sim)) < JOBS:  # the last creates were on their way: let them go
            os.kill(process.pid, signal.SIGCONT)
            time.sleep(0.05)
            os.kill(process.pid, signal.SIGSTOP)
        on_disk = {path.parent.name for path in videos.glob("*/video.mp4")}
        later = [str(c["video_id"]) for c in _creates(sim)][CAP:]
        # Past completion and Replicate's retention, in the simulator's time.
        httpx.post(
            f"{sim.base_url.removesuffix('/v1')}/_sim/advance",
            params={"seconds": str(RETENTION + 600)},
            timeout=10,
        ).raise_for_status()
        assert all(_removed(sim, prediction) for prediction in later)
        os.kill(process.pid, signal.SIGCONT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
            process.wait()
    assert process.returncode == 1, stderr.decode(errors="replace")[-3000:]
    result = json.loads(stdout)
    assert result["counts"]["failed"] == JOBS - len(on_disk)

    _check_ends(tmp_path, sim, on_disk)


def _check_ends(folder: Path, sim: SimProcess, on_disk: set[str]) -> None:
    """Done: the videos on disk before the pause. Expired (and charged): the others."""
    store = Store(database_url(folder / "reelforge.db"))
    try:
        jobs = {job.key: job for job in store.jobs("expiry")}
    finally:
        store.close()
    assert len(_creates(sim)) == JOBS  # nothing created again after the pause
    expired = {key for key, job in jobs.items() if job.state is JobState.FAILED}
    done = {key for key, job in jobs.items() if job.state is JobState.DONE}
    assert expired | done == set(jobs), {k: j.state for k, j in jobs.items()}
    assert done == on_disk, (done, on_disk)
    assert len(expired) == JOBS - len(on_disk)
    for key in expired:
        job = jobs[key]
        assert job.category is ErrorCategory.EXPIRED, (key, job.category, job.error)
        assert "removed" in (job.error or ""), (key, job.error)
        assert job.remote_id is not None
        assert _removed(sim, job.remote_id), key
        assert not (folder / "out" / "expiry" / key / "video.mp4").exists()
        # The video was made and billed before its files went: the ledger says so.
        assert job.actual_cost == job.estimated_cost, (key, job.actual_cost)
        assert job.actual_cost is not None
        assert job.actual_cost > 0
    for key in done:
        assert (folder / "out" / "expiry" / key / "video.mp4").stat().st_size > 0
