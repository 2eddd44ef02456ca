"""Chaos on PostgreSQL: workers killed with -9 and the database server restarted while three
``reelforge worker`` processes run a batch against a faulty provider, with a Notion sink.

A batch of ``JOBS`` jobs is enqueued with ``reelforge run --detach`` on a PostgreSQL server of
the test's own; three workers (at most 2 jobs each at once; the account's cap is 4 across all
of them) run it against ``reelforge sim`` with its faults on: 5xx answers to creates the server
made anyway, 429 bursts, downloads cut halfway, 5xx on any request, failed generations and
moderated prompts. Every 10 to 30 s (seeded) a random worker is killed with -9 and a new one
started (and at least three times in the batch, at a tenth, 40% and 70% of it ended); the server
is restarted twice (every connection dropped) when a fifth and 55% of the batch have ended.
Then, from ground truth:

* the simulator's log: no prompt created twice, never more than 4 in flight for the key, no
  create refused for passing the cap, every video owned by its job;
* every job ``done``, or ``failed`` with the category the simulator decided;
* every done job's three files on disk with the simulator's size and SHA-256;
* the ledger equal to the price of the done jobs, nothing still reserved;
* the fake Notion: exactly one page per job, saying what the store says.

Figures on this 2-core machine (the simulator at 1000x): see ``docs/architecture.md``
("Workers").
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_harness import CAP, SimFactory, Workspace, clean_env, sim_config, write_batch
from worker_harness import (
    KEY,
    Workers,
    check_finished,
    detach,
    read_with_retry,
    unfinished,
    workers,
)

from pgserver import PostgresServer, started_server
from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState
from reelforge.fakenotion import EmbeddedFakeNotion, FakeNotionConfig
from reelforge.sinks.status import sink_status
from reelforge.store import JobRow, Store

pytestmark = pytest.mark.slow

JOBS = 200
WORKERS = 3
RESTART_AT = (0.2, 0.55)
"""Shares of the batch ended at which the database server is restarted: tied to progress, not
to the clock, so both happen mid-batch however fast the machine runs it."""
KILL_EVERY = (10.0, 30.0)
"""A random worker is killed with -9 after a seeded random pause in this range (seconds)."""
KILL_AT = (0.1, 0.4, 0.7)
"""Shares of the batch ended by which at least one, two and three kills have happened (a batch
a fast machine ends within a minute still sees its three kills)."""
BUDGET = 240.0
"""Seconds the batch may take from the workers' start to its last job's end."""
TOKEN = "secret_chaos-notion-token-0123456789"
STATUS = {JobState.DONE: "Completed", JobState.FAILED: "Failed"}
ERROR_TYPE = {
    ErrorCategory.CONTENT_POLICY: "compliance_failed",
    ErrorCategory.GENERATION_FAILED: "generation_failed",
}


@pytest.fixture
def notion() -> Iterator[EmbeddedFakeNotion]:
    with EmbeddedFakeNotion(FakeNotionConfig(tokens=(TOKEN,), rate_limit=False)) as fake:
        yield fake


@pytest.mark.timeout(420)
def test_workers_killed_and_database_restarted_lose_nothing(
    make_sim: SimFactory, notion: EmbeddedFakeNotion, tmp_path: Path
) -> None:
    rng = random.Random(1414)
    sim = make_sim(
        sim_config(
            time_scale=1000,
            seed=14,
            media_scale=0.125,
            max_in_flight=CAP,
            error_after_create_rate=0.05,
            rate_limit_burst={"every": 7.0, "length": 0.5},
            moderation_patterns=[r"\bzeppelin\b"],
            generation_failure_rate=0.05,
            drop_download_rate=0.2,
            server_error_rate=0.02,
        )
    )
    batch = write_batch(tmp_path, "chaos", JOBS, marker_every=20)
    workspace = Workspace(folder=tmp_path, sim=sim, api_key=KEY)
    database = notion.state.create_database("Video variations", {"Name": {"title": {}}})
    notion_env = {
        "NOTION_TOKEN": TOKEN,
        "NOTION_BATCH_DATABASE_ID": database.database_id,
        "NOTION_BASE_URL": notion.base_url,
        # The fake has no rate limit: the sink need not keep to Notion's three a second.
        "NOTION_REQUESTS_PER_SECOND": "200",
    }
    init = subprocess.run(  # our own interpreter, fixed arguments
        [sys.executable, "-m", "reelforge", "notion", "init"],
        env=clean_env(**notion_env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr

    with started_server() as server:
        with server.admin() as conn:
            conn.execute('CREATE DATABASE "chaos"')
        url = server.url("chaos")
        enqueued = detach(url, sim, batch, tmp_path)
        assert enqueued.returncode == 0, enqueued.stderr[-4000:]

        with workers(
            url, sim, tmp_path, concurrency=2, extra=("--notion",), env=notion_env
        ) as pool:
            pool.start_many(WORKERS)
            took, kills, restarts = _chaos(pool, server, url, rng)
            assert restarts == len(RESTART_AT), "the batch ended before both restarts"
            assert kills >= 3, kills

            # The sink catches up on what it has not delivered (its lease moves to a live
            # worker at once: the killed holders' processes are gone).
            def lag(store: Store) -> int:
                return sink_status(store, ["notion"])[0].lag_events

            deadline = time.monotonic() + 90
            while read_with_retry(url, lag) > 0:
                assert time.monotonic() < deadline, "the Notion sink did not catch up"
                time.sleep(0.5)
            codes = pool.terminate_all()
            assert codes == [0] * len(codes), [w.stderr()[-2000:] for w in pool.started]

        jobs = check_finished(url, workspace, batch, allow_failed=True)
        with Store(url) as store:
            _check_pages(notion, database.data_source_id, store, jobs)

    ends = Counter((job.state, job.category) for job in jobs.values())
    print(  # the figures docs/architecture.md quotes (pytest -s shows them)
        f"\nchaos: {JOBS} jobs in {took:.0f} s, {kills} workers killed, {restarts} database "
        f"restarts; {dict(ends)}; max in flight {sim.max_in_flight(workspace.key_id)}"
    )
    assert ends[(JobState.FAILED, ErrorCategory.CONTENT_POLICY)] == JOBS // 20
    assert ends[(JobState.DONE, None)] > JOBS // 2
    faults = Counter(request["fault"] for request in sim.log()["requests"])
    for fault in ("error_after_create", "rate_limit_burst", "server_error"):
        assert faults[fault] > 0, (fault, faults)
    assert any(fault and "drop_download" in fault for fault in faults), faults


def _chaos(
    pool: Workers, server: PostgresServer, url: str, rng: random.Random
) -> tuple[float, int, int]:
    """Until the batch ends: kill a random worker with -9 every 10 to 30 s and by ``KILL_AT``
    (and start a new one), restart the server at ``RESTART_AT``. Returns the seconds it took,
    the kills and the restarts."""
    start = time.monotonic()
    kills, restarts = 0, 0
    next_kill = start + rng.uniform(*KILL_EVERY)
    while (left := unfinished(url, "chaos")) > 0:
        now = time.monotonic()
        assert now - start < BUDGET, f"the batch did not end within {BUDGET:.0f} s"
        ended = 1 - left / JOBS
        if restarts < len(RESTART_AT) and ended >= RESTART_AT[restarts]:
            server.restart()
            restarts += 1
        behind = kills < len(KILL_AT) and ended >= KILL_AT[kills]
        if now >= next_kill or behind:
            alive = [worker for worker in pool.started if worker.process.poll() is None]
            rng.choice(alive).kill()
            pool.start(ready=False)
            kills += 1
            next_kill = time.monotonic() + rng.uniform(*KILL_EVERY)
        time.sleep(0.5)
    return time.monotonic() - start, kills, restarts


def _plain(prop: dict[str, Any]) -> Any:
    kind = prop["type"]
    value = prop[kind]
    if kind in ("title", "rich_text"):
        return "".join(part["plain_text"] for part in value)
    if kind in ("select", "status"):
        return value["name"] if value else None
    return value


def _check_pages(
    fake: EmbeddedFakeNotion, data_source_id: str, store: Store, jobs: dict[str, JobRow]
) -> None:
    """Exactly one page per job, each saying the job's final state."""
    pages = [
        {name: _plain(prop) for name, prop in page["properties"].items()}
        for page in fake.state.pages(data_source_id)
    ]
    per_job = Counter(page["Job ID"] for page in pages)
    assert max(per_job.values()) == 1, {job: n for job, n in per_job.items() if n > 1}
    by_job = {page["Job ID"]: page for page in pages}
    assert sorted(by_job) == sorted(job.id for job in jobs.values())
    for job in jobs.values():
        page, where = by_job[job.id], f"page of {job.key}"
        assert page["Status"] == STATUS[job.state], where
        assert page["Batch"] == job.batch_id, where
        assert page["Prompt"] == job.prompt, where
        assert page["Seconds"] == job.seconds, where
        assert page["Size"] == job.size, where
        assert (page["Video ID"] or None) == job.remote_id, where
        if job.state is JobState.DONE:
            assert job.actual_cost is not None
            assert Decimal(str(page["Cost"])) == job.actual_cost, where
            video = next(a for a in store.assets(job.id) if a.variant.value == "video")
            assert page["Video"] == video.path.resolve().as_uri(), where
            assert not page["Error Type"], where
        else:
            assert job.category is not None
            assert page["Error Type"] == ERROR_TYPE[job.category], where
            assert page["Error"], where
