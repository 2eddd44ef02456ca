"""A Runway task held ``THROTTLED`` (over the account's concurrency) is created, so it holds an
in-flight slot, but it is not running: ``reelforge status`` shows it queued until Runway starts
it — never ``in_progress`` while Runway still says ``THROTTLED``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from engine_harness import SimFactory, clean_env, sim_config

from reelforge.sim.runway_wire import RUNWAY_VERSION

pytestmark = pytest.mark.slow

SECRET = "rw-throttle-test"


def _status(folder: Path) -> dict[str, dict[str, object]]:
    done = subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        [
            *(sys.executable, "-m", "reelforge", "status", "throttle", "--json"),
            *("--db", str(folder / "reelforge.db")),
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return {}
    return {str(job["key"]): job for job in json.loads(done.stdout)["jobs"]}


@pytest.mark.timeout(240)
def test_a_throttled_task_is_shown_queued_not_running(make_sim: SimFactory, tmp_path: Path) -> None:
    config = sim_config(time_scale=20, seed=41, media_scale=0.25)
    config["runway"] = {"concurrency": 1}
    sim = make_sim(config)
    root = sim.base_url.removesuffix("/v1")
    batch = tmp_path / "throttle.jsonl"
    batch.write_text(
        "".join(
            json.dumps(
                {
                    "key": f"clip-{i}",
                    "prompt": f"clip {i}: a windmill at dusk",
                    "provider": "runway",
                    "model": "veo3.1_fast",
                    "seconds": 8,
                }
            )
            + "\n"
            for i in range(2)
        ),
        encoding="utf-8",
    )
    process = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed arguments
        [
            *(sys.executable, "-m", "reelforge", "run", str(batch), "--json"),
            *("--db", str(tmp_path / "reelforge.db"), "--out", str(tmp_path / "out")),
            *("--max-in-flight", "2"),
        ],
        env=clean_env(RUNWAYML_API_SECRET=SECRET, RUNWAYML_BASE_URL=root),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen_throttled_queued = 0
    headers = {"Authorization": f"Bearer {SECRET}", "X-Runway-Version": RUNWAY_VERSION}
    try:
        with httpx.Client(base_url=root, headers=headers, timeout=10) as runway:
            while process.poll() is None:
                # Our view first, then Runway's: a job we show running must have been seen
                # RUNNING before, so Runway cannot say THROTTLED for it afterwards.
                ours = _status(tmp_path)
                for key, job in ours.items():
                    if not job["remote_id"]:
                        continue
                    task = runway.get(f"/v1/tasks/{job['remote_id']}").json()
                    if task["status"] != "THROTTLED":
                        continue
                    assert job["state"] != "in_progress", (key, job, task)
                    if job["state"] == "queued":
                        seen_throttled_queued += 1
                time.sleep(0.2)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr.decode(errors="replace")[-3000:]
    assert json.loads(stdout)["counts"]["done"] == 2
    # The situation happened: a created task Runway held back, shown as queued.
    assert seen_throttled_queued > 0
