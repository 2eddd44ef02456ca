"""A batch on PostgreSQL survives its database server restarting, twice, mid-run.

``reelforge run`` (a real process, against a ``reelforge sim`` process) keeps its state on a
PostgreSQL server of the test's own; the test restarts that server (``pg_ctl restart -m fast``:
every connection dropped) twice while jobs are in flight. The run rides it out — pooled
connections are checked before use, DBOS retries its own, the batch's watcher waits for the
database — and ends by itself: every job ``done`` with its files, no prompt created twice, never
more than the cap in flight (the simulator's own count).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from engine_harness import SimFactory, api_key_id, clean_env, sim_config, write_batch

from pgserver import started_server
from reelforge.core.models import JobState
from reelforge.store import Store

pytestmark = pytest.mark.slow

KEY = "sk-pg-restart-0001"
JOBS = 20
CAP = 4


@pytest.mark.timeout(300)
def test_a_run_rides_out_two_database_restarts(make_sim: SimFactory, tmp_path: Path) -> None:
    sim = make_sim(sim_config(time_scale=30, seed=41, media_scale=0.125))
    batch = write_batch(tmp_path, "restarts", JOBS)
    with started_server() as server:
        with server.admin() as conn:
            conn.execute('CREATE DATABASE "restarts"')
        url = server.url("restarts")
        command = [
            *(sys.executable, "-m", "reelforge", "run", str(batch.path)),
            *("--db", url, "--out", str(tmp_path / "out"), "--base-url", sim.base_url),
            *("--max-in-flight", str(CAP), "--json"),
        ]
        process = subprocess.Popen(  # noqa: S603  # our own CLI, fixed arguments
            command,
            env=clean_env(OPENAI_API_KEY=KEY),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            restarts = 0
            for pause in (5.0, 5.0):
                time.sleep(pause)
                if process.poll() is not None:
                    break
                server.restart()
                restarts += 1
            _, err = process.communicate(timeout=240)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)
        assert restarts == 2, "the batch ended before the server was restarted twice"
        assert process.returncode == 0, err[-4000:]
        with Store(url) as store:
            jobs = store.jobs("restarts")
            done = [job for job in jobs if job.state is JobState.DONE]
            assert len(done) == JOBS, [(j.key, j.state, j.error) for j in jobs]

    key = api_key_id(KEY)
    creates = [c for c in sim.log()["creates"] if c["api_key_id"] == key]
    assert Counter(c["prompt"] for c in creates).most_common(1)[0][1] == 1
    assert len(creates) == JOBS
    assert 1 <= sim.max_in_flight(key) <= CAP
    for job in done:
        assert (tmp_path / "out" / "restarts" / job.key / "video.mp4").stat().st_size > 0
