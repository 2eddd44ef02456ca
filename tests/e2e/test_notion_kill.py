"""Notion down while reelforge is killed with -9, then restarted: afterwards every page is
right and none is duplicated (the sink's cursor and page ids live in the database)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from notion_e2e import TOKEN, busiest_window, check_pages, write_campaign

from reelforge.core.models import JobState
from reelforge.fakenotion import CreatedDatabase, EmbeddedFakeNotion, FakeNotionConfig
from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig
from reelforge.sinks.status import sink_status
from reelforge.store import Store
from reelforge.store.errors import StoreError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FINAL = (JobState.DONE, JobState.FAILED, JobState.REJECTED)
_DROPPED = {
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "SORA_API_BASE_URL",
    "REELFORGE_DB_URL",
    "REELFORGE_CRASH_AT",
    "NOTION_TOKEN",
    "NOTION_BATCH_DATABASE_ID",
    "NOTION_DATABASE_ID",
    "NOTION_BASE_URL",
}


@pytest.fixture
def fake() -> Iterator[EmbeddedFakeNotion]:
    with EmbeddedFakeNotion(FakeNotionConfig(tokens=(TOKEN,))) as emb:
        yield emb


@pytest.fixture
def sim() -> Iterator[EmbeddedSimulator]:
    faults = FaultConfig(moderation_patterns=("noir",), generation_failure_rate=0.1)
    with EmbeddedSimulator(SimConfig(faults=faults, seed=5)) as emb:
        yield emb


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_outage_and_kill_lose_nothing(
    fake: EmbeddedFakeNotion, sim: EmbeddedSimulator, tmp_path: Path
) -> None:
    database: CreatedDatabase = fake.state.create_database(
        "Video variations", {"Name": {"title": {}}}
    )
    campaign = write_campaign(tmp_path)
    db = tmp_path / "db.sqlite"
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED} | {
        "OPENAI_API_KEY": "sk-e2e-kill",
        "NOTION_TOKEN": TOKEN,
        "NOTION_BATCH_DATABASE_ID": database.database_id,
        "NOTION_BASE_URL": fake.base_url,
    }
    reelforge = [sys.executable, "-m", "reelforge"]
    init = subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        [*reelforge, "notion", "init", "--campaign", str(campaign)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    command = [
        *reelforge, "campaign", "run", str(campaign), "--base-url", sim.base_url,
        "--db", str(db), "--out", str(tmp_path / "out"), "--max-in-flight", "6",
        "--notion", "--json",
    ]  # fmt: skip

    def final() -> int:
        if not db.exists():
            return 0
        try:
            with Store(f"sqlite:///{db}") as store:
                batches = store.batches()
                if not batches:
                    return 0
                summary = store.batch_summary(batches[0].id)
        except StoreError:  # the run has not created its tables yet
            return 0
        return sum(summary.counts[state] for state in FINAL)

    first = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed arguments
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(lambda: final() >= 17, "a third of the jobs")
        fake.state.set_outage(503)
        _wait_for(lambda: final() >= 25, "half of the jobs")
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()

    # Restarted while Notion is still down; Notion comes back at two thirds.
    second = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed arguments
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        _wait_for(lambda: final() >= 34, "two thirds of the jobs")
        fake.state.set_outage(None)
        _, stderr = second.communicate(timeout=300)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode in (0, 1), stderr.decode(errors="replace")[-3000:]

    with Store(f"sqlite:///{db}") as store:
        (status,) = sink_status(store, ["notion"])
        assert status.lag_events == 0, status
        assert any(r.status == 503 for r in fake.state.log.records)
        states = check_pages(fake, database.data_source_id, store, store.batches()[0].id)
    assert sum(states.values()) == 50
    assert states["rejected"] == 10
    assert busiest_window(fake) <= 30
    prompts = Counter(record.prompt for record in sim.sim.log.creates)
    assert prompts, "nothing was created"
    assert max(prompts.values()) == 1  # the kill made no job be created twice
