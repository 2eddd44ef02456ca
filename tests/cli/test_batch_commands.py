"""The batch commands (status, watch, cost, retry, cancel, poke, reconcile) on real objects:
a SQLite file, the simulator on a loopback port, and the CLI as a user runs it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from reelforge.cli import app
from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobSpec, JobState, RemoteState, RemoteStatus
from reelforge.providers.openai import OpenAIVideosProvider
from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig
from reelforge.store import NewJob, Store, StoreError, account_id

KEY = "sk-test-batch-commands"
FAST = {"time_scale": 400.0, "poll_after_min_ms": 50}

BATCH_YAML = """\
batch: launch
defaults: {model: sora-2, seconds: 4, size: 1280x720}
jobs:
  - {key: kite, prompt: "A red kite over desert dunes", labels: {brand: acme}}
  - {key: lighthouse, prompt: "A lighthouse in a storm", labels: {brand: acme}}
  - {key: boom, prompt: "A huge explosion downtown", labels: {brand: globex}}
"""


def sim_gateway(monkeypatch: pytest.MonkeyPatch, faults: FaultConfig) -> EmbeddedSimulator:
    """A fast simulator used as a remote gateway with a key (enter it with ``with``)."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return EmbeddedSimulator(SimConfig(faults=faults, **FAST))


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedSimulator]:
    """A gateway that refuses prompts about explosions."""
    with sim_gateway(monkeypatch, FaultConfig(moderation_patterns=(r"\bexplosion\b",))) as emb:
        yield emb


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "reelforge.db")


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args))


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def run_batch(runner: CliRunner, gateway: EmbeddedSimulator, db: str, tmp_path: Path) -> Result:
    batch_file = tmp_path / "launch.yaml"
    batch_file.write_text(BATCH_YAML, encoding="utf-8")
    out = str(tmp_path / "out")
    return invoke(
        runner, "run", str(batch_file), "--base-url", gateway.base_url, "--db", db, "--out", out,
        "--json",
    )  # fmt: skip


# -- a store prepared by hand, for states a run does not reach on its own -----------------------


def prepared_store(db: str, base_url: str, *prompts: str) -> tuple[Store, list[str]]:
    """A batch ``manual`` whose jobs (one per prompt) are ``waiting`` for ``base_url``'s account."""
    store = Store.for_path(db)
    store.migrate()
    store.upsert_batch("manual", name="manual", out_dir=str(Path(db).parent / "out"))
    account = account_id("openai", base_url.rstrip("/"), KEY)
    new = [
        NewJob(
            key=f"job{i}",
            spec=JobSpec(prompt=prompt, model="sora-2", seconds=4, size="1280x720"),
            position=i,
            account=account,
            estimated_cost=Decimal("0.40"),
        )
        for i, prompt in enumerate(prompts)
    ]
    store.add_jobs("manual", new)
    ids = [job.id for job in store.jobs("manual")]
    for job_id in ids:
        store.transition(job_id, JobState.WAITING)
    return store, ids


def make_ambiguous(store: Store, job_id: str) -> None:
    """The state an ambiguous create that reconciliation could not settle leaves behind."""
    store.record_intent(job_id)
    store.transition(
        job_id,
        JobState.NEEDS_REVIEW,
        category=ErrorCategory.TRANSIENT,
        error="ambiguous submission: 2 remote jobs match",
    )


def create_remote(
    base_url: str, prompt: str, count: int = 1, *, finished: bool = True
) -> list[RemoteStatus]:
    """Create ``count`` jobs on the simulator as another client would (and, by default, wait
    until they have completed, as they would have by the time a person reviews them)."""

    async def go() -> list[RemoteStatus]:
        async with httpx.AsyncClient() as client:
            provider = OpenAIVideosProvider(client, base_url=base_url, api_key=KEY)
            spec = JobSpec(prompt=prompt, model="sora-2", seconds=4, size="1280x720")
            created = [await provider.submit(spec) for _ in range(count)]
            if not finished:
                return created
            for _ in range(200):
                now = [await provider.fetch(job.remote_id) for job in created]
                if all(job.state is RemoteState.COMPLETED for job in now):
                    return now
                await asyncio.sleep(0.05)
            raise AssertionError("the simulator did not finish the jobs")

    return asyncio.run(go())


# -- status, cost, watch after a run -------------------------------------------------------------


@pytest.mark.slow
def test_status_cost_and_watch_after_a_run_with_one_refused_job(
    runner: CliRunner, gateway: EmbeddedSimulator, db: str, tmp_path: Path
) -> None:
    result = run_batch(runner, gateway, db, tmp_path)
    assert result.exit_code == 1, result.output

    listing = as_json(invoke(runner, "status", "--db", db, "--json"))
    (line,) = listing["batches"]
    assert line["id"] == "launch"
    assert line["jobs"] == 3
    assert line["counts"] == {"done": 2, "failed": 1}
    assert line["cost"]["actual"] == "0.8000"
    assert line["cost"]["estimated"] == "1.2000"

    detail = as_json(invoke(runner, "status", "launch", "--db", db, "--json"))
    jobs = {job["key"]: job for job in detail["jobs"]}
    assert jobs["kite"]["state"] == "done"
    assert jobs["kite"]["remote_id"].startswith("video_")
    assert jobs["boom"]["state"] == "failed"
    assert jobs["boom"]["category"] == "content_policy"
    assert jobs["boom"]["cost"]["actual"] == "0.0000"

    by_brand = as_json(invoke(runner, "cost", "--by", "brand", "--db", db, "--json"))
    lines = {line["group"]: line for line in by_brand["lines"]}
    assert lines["acme"] == {"group": "acme", "jobs": 2, "estimated": "0.8000", "actual": "0.8000"}
    assert lines["globex"]["jobs"] == 1
    assert lines["globex"]["actual"] == "0.0000"
    assert by_brand["total"] == {
        "group": "total",
        "jobs": 3,
        "estimated": "1.2000",
        "actual": "0.8000",
    }

    table = invoke(runner, "status", "launch", "--db", db)
    assert table.exit_code == 0
    assert "boom" in table.stdout
    assert "2 done, 1 failed; cost $0.80" in table.stdout

    watched = invoke(runner, "watch", "--db", db, "--interval", "0.1")
    assert watched.exit_code == 0, watched.output
    assert "batch launch" in watched.stdout


# -- bad input ----------------------------------------------------------------------------------


def test_status_of_an_unknown_batch_exits_2_listing_the_known_ones(
    runner: CliRunner, db: str, tmp_path: Path
) -> None:
    prepared_store(db, "http://127.0.0.1:9/v1", "A quiet lake")
    result = invoke(runner, "status", "nope", "--db", db)
    assert result.exit_code == 2
    assert "unknown batch 'nope'; known batches: manual" in result.stderr
    assert result.stdout == ""


def test_cost_by_an_unknown_grouping_exits_2_naming_the_allowed_ones(
    runner: CliRunner, db: str
) -> None:
    result = invoke(runner, "cost", "--by", "colour", "--db", db)
    assert result.exit_code == 2
    assert (
        "--by 'colour' is not a grouping; use one of: batch, provider, model, brand"
        in result.stderr
    )


def test_status_with_no_batches(runner: CliRunner, db: str) -> None:
    assert as_json(invoke(runner, "status", "--db", db, "--json")) == {"batches": []}
    result = invoke(runner, "watch", "--db", db)
    assert result.exit_code == 2
    assert "no batches yet" in result.stderr


def test_poke_of_an_unknown_job_exits_2(runner: CliRunner, db: str) -> None:
    result = invoke(runner, "poke", "no-such-job", "--db", db)
    assert result.exit_code == 2
    assert "unknown job 'no-such-job'" in result.stderr


def test_poke_of_a_job_without_a_running_workflow_exits_1(runner: CliRunner, db: str) -> None:
    _, (job_id,) = prepared_store(db, "http://127.0.0.1:9/v1", "A quiet lake")
    result = invoke(runner, "poke", job_id, "--db", db)
    assert result.exit_code == 1
    assert f"job {job_id} has no running workflow (it is waiting)" in result.stderr


def test_reconcile_takes_one_action_at_a_time(runner: CliRunner, db: str) -> None:
    result = invoke(runner, "reconcile", "--resubmit", "a", "--abandon", "b", "--db", db)
    assert result.exit_code == 2
    assert "give one of --adopt, --resubmit or --abandon at a time" in result.stderr


def test_retry_of_an_unknown_batch_exits_2(runner: CliRunner, db: str) -> None:
    result = invoke(runner, "retry", "nope", "--db", db)
    assert result.exit_code == 2
    assert "unknown batch 'nope'" in result.stderr


# -- cancel -------------------------------------------------------------------------------------


@pytest.fixture
def calm_gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedSimulator]:
    """A gateway whose jobs take about a minute: still running when a test cancels them,
    however busy the machine."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with EmbeddedSimulator(SimConfig(time_scale=1.5)) as emb:
        yield emb


def test_cancel_a_batch_deletes_created_jobs_and_refuses_a_create_that_may_still_land(
    runner: CliRunner, calm_gateway: EmbeddedSimulator, db: str
) -> None:
    gateway = calm_gateway
    store, (waiting, created, submitting) = prepared_store(
        db, gateway.base_url, "A quiet lake", "A busy harbour", "A snowy pass"
    )
    (remote,) = create_remote(gateway.base_url, "A busy harbour", finished=False)
    token = store.record_intent(created)
    assert store.record_remote_id(created, token, remote.remote_id)
    store.record_intent(submitting)

    result = invoke(
        runner, "cancel", "manual", "--db", db, "--base-url", gateway.base_url, "--json"
    )

    assert result.exit_code == 1, result.output
    outcomes = {job["id"]: job for job in as_json(result)["jobs"]}
    assert outcomes[waiting]["outcome"] == "canceled"
    assert outcomes[created]["outcome"] == "canceled"
    assert outcomes[created]["remote_deleted"] is True
    # Not in the listing yet, but its create could still land: refused, saying for how long.
    assert outcomes[submitting]["outcome"] == "refused"
    assert "may still reach the provider" in outcomes[submitting]["reason"]
    assert store.get_job(waiting).state is JobState.CANCELED
    assert store.get_job(submitting).state is JobState.SUBMITTING
    assert gateway.sim.store.get(remote.remote_id) is None
    store.close()


def test_cancel_of_a_submitting_job_past_its_resend_window_cancels_it(
    runner: CliRunner, calm_gateway: EmbeddedSimulator, db: str
) -> None:
    """Its create can no longer land and the listing does not have it: nothing was made."""
    store, (submitting,) = prepared_store(db, calm_gateway.base_url, "A snowy pass")
    store.record_intent(submitting, window=0.0)

    result = invoke(
        runner, "cancel", "manual", "--db", db, "--base-url", calm_gateway.base_url, "--json"
    )

    assert result.exit_code == 0, result.output
    (outcome,) = as_json(result)["jobs"]
    assert outcome["outcome"] == "canceled", outcome
    assert "not in the provider's listing" in outcome["remote_note"]
    job = store.get_job(submitting)
    assert job.state is JobState.CANCELED
    assert "could no longer land" in (job.error or "")
    store.close()


def test_cancel_of_a_submitting_job_whose_create_landed_finds_and_deletes_it(
    runner: CliRunner, calm_gateway: EmbeddedSimulator, db: str
) -> None:
    """The run died between sending the create and recording its answer: cancel stops the
    job, finds its video in the provider's listing, adopts it and deletes it there."""
    store, (submitting,) = prepared_store(db, calm_gateway.base_url, "A snowy pass")
    store.record_intent(submitting)
    (remote,) = create_remote(calm_gateway.base_url, "A snowy pass", finished=False)

    result = invoke(
        runner, "cancel", "manual", "--db", db, "--base-url", calm_gateway.base_url, "--json"
    )

    assert result.exit_code == 0, result.output
    (outcome,) = as_json(result)["jobs"]
    assert outcome["outcome"] == "canceled", outcome
    assert outcome["remote_deleted"] is True
    job = store.get_job(submitting)
    assert job.state is JobState.CANCELED
    assert job.remote_id == remote.remote_id
    assert calm_gateway.sim.store.get(remote.remote_id) is None
    store.close()


def test_cancel_one_job_by_key_without_credentials(
    runner: CliRunner, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, (job_id,) = prepared_store(db, "http://127.0.0.1:9/v1", "A quiet lake")
    result = invoke(runner, "cancel", "job0", "--db", db)
    assert result.exit_code == 0, result.output
    assert f"job0 ({job_id}): canceled" in result.stdout
    assert store.get_job(job_id).state is JobState.CANCELED
    again = invoke(runner, "cancel", "job0", "--db", db)
    assert again.exit_code == 0
    assert "already canceled; nothing to cancel" in again.stdout
    store.close()


# -- retry --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_retry_runs_a_failed_job_again_to_the_end(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, db: str, tmp_path: Path
) -> None:
    # With seed 0 and a failure rate of one half, the simulator's first job fails mid-generation
    # and its second succeeds: the retry is what finishes the batch.
    with sim_gateway(monkeypatch, FaultConfig(generation_failure_rate=0.5)) as emb:
        batch_file = tmp_path / "one.yaml"
        batch_file.write_text(
            'batch: one\njobs:\n  - {key: kite, prompt: "A red kite", seconds: 4}\n',
            encoding="utf-8",
        )
        out = tmp_path / "out"
        common = ("--base-url", emb.base_url, "--db", db)
        first = invoke(runner, "run", str(batch_file), *common, "--out", str(out), "--json")
        assert first.exit_code == 1, first.output
        (failed,) = as_json(first)["jobs"]
        assert failed["category"] == "generation_failed"

        second = invoke(runner, "retry", "one", "--failed", *common, "--json")

        assert second.exit_code == 0, second.output
        (done,) = as_json(second)["jobs"]
        assert done["state"] == "done"
        assert (out / "one" / "kite" / "video.mp4").is_file()
        assert len(emb.sim.log.creates) == 2


def test_retry_needs_the_account_the_batch_ran_with(
    runner: CliRunner, gateway: EmbeddedSimulator, db: str
) -> None:
    store, (job_id,) = prepared_store(db, "http://127.0.0.1:9/v1", "A quiet lake")
    store.close()
    result = invoke(runner, "retry", "manual", "--base-url", gateway.base_url, "--db", db)
    assert result.exit_code == 2
    assert f"job {job_id} was submitted with another base URL or API key" in result.stderr


# -- reconcile ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_reconcile_lists_candidates_then_adopts_the_one_a_person_picks(
    runner: CliRunner, gateway: EmbeddedSimulator, db: str
) -> None:
    store, (job_id,) = prepared_store(db, gateway.base_url, "A paper boat on a river")
    make_ambiguous(store, job_id)
    first, second = create_remote(gateway.base_url, "A paper boat on a river", count=2)
    common = ("--base-url", gateway.base_url, "--db", db)

    shown = invoke(runner, "reconcile", *common, "--json")

    assert shown.exit_code == 1, shown.output
    (finding,) = as_json(shown)["jobs"]
    assert finding["plan"] == "choose"
    assert sorted(finding["candidates"]) == sorted([first.remote_id, second.remote_id])
    assert finding["reason"] == "ambiguous submission: 2 remote jobs match"
    assert store.get_job(job_id).state is JobState.NEEDS_REVIEW

    adopted = invoke(runner, "reconcile", "--adopt", job_id, second.remote_id, *common)

    assert adopted.exit_code == 0, adopted.output
    assert f"adopted {second.remote_id} for job0" in adopted.stdout
    assert "no new charge" in adopted.stdout
    job = store.get_job(job_id)
    assert job.state is JobState.DONE
    assert job.remote_id == second.remote_id
    assert len(gateway.sim.log.creates) == 2  # nothing was created again
    store.close()


@pytest.mark.slow
def test_reconcile_adopts_a_unique_match_by_itself_and_collects_it(
    runner: CliRunner, gateway: EmbeddedSimulator, db: str
) -> None:
    store, (job_id,) = prepared_store(db, gateway.base_url, "A windmill at dusk")
    make_ambiguous(store, job_id)
    (remote,) = create_remote(gateway.base_url, "A windmill at dusk")

    result = invoke(runner, "reconcile", "--base-url", gateway.base_url, "--db", db, "--json")

    assert result.exit_code == 0, result.output
    (finding,) = as_json(result)["jobs"]
    assert finding["plan"] == "adopt"
    assert finding["applied"] is True
    assert finding["state"] == "done"
    assert finding["remote_id"] == remote.remote_id
    assert (Path(db).parent / "out" / "manual" / "job0" / "video.mp4").is_file()
    store.close()


def test_reconcile_dry_run_and_abandon(
    runner: CliRunner, gateway: EmbeddedSimulator, db: str
) -> None:
    store, (job_id,) = prepared_store(db, gateway.base_url, "A glass of milk")
    make_ambiguous(store, job_id)
    common = ("--base-url", gateway.base_url, "--db", db)

    shown = invoke(runner, "reconcile", *common, "--dry-run")
    assert shown.exit_code == 1, shown.output
    assert "no remote job matches: --resubmit it (may be billed again)" in shown.stdout

    abandoned = invoke(runner, "reconcile", "--abandon", job_id, "--db", db)
    assert abandoned.exit_code == 0, abandoned.output
    assert "abandoned job0" in abandoned.stdout
    assert "may still be billed" in abandoned.stdout
    job = store.get_job(job_id)
    assert job.state is JobState.CANCELED
    assert job.actual_cost == Decimal(0)
    assert any(
        e.data.get("message") == "abandoned by a person after review" for e in store.history(job_id)
    )

    nothing = invoke(runner, "reconcile", *common)
    assert nothing.exit_code == 0
    assert "No job needs review." in nothing.stdout

    not_in_review = invoke(runner, "reconcile", "--abandon", job_id, "--db", db)
    assert not_in_review.exit_code == 2
    assert "is canceled, not needs_review" in not_in_review.stderr
    store.close()


@pytest.mark.slow
def test_poke_and_cancel_from_another_process_while_run_is_running(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, db: str, tmp_path: Path
) -> None:
    batch_file = tmp_path / "slow.yaml"
    batch_file.write_text(
        'batch: slow\njobs:\n  - {key: kite, prompt: "A red kite", seconds: 4}\n'
        '  - {key: boat, prompt: "A paper boat", seconds: 4}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    # Real-ish time: each video takes over a minute, so both are still generating when canceled.
    with EmbeddedSimulator(SimConfig(time_scale=1.0)) as emb:
        command = [sys.executable, "-m", "reelforge", "run", str(batch_file), "--json"]
        command += ["--base-url", emb.base_url, "--db", db, "--out", str(tmp_path / "out")]
        process = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed arguments
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            store = Store.for_path(db)
            job_ids = wait_for_remote_ids(store, "slow", count=2)

            poked = invoke(runner, "poke", "kite", "--db", db)
            assert poked.exit_code == 0, poked.output
            assert f"woke kite ({job_ids[0]}): workflow {job_ids[0]}" in poked.stdout

            canceled = invoke(runner, "cancel", "slow", "--db", db, "--base-url", emb.base_url)
            assert canceled.exit_code == 0, canceled.output
            assert "2 canceled" in canceled.stdout

            stdout, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 1
        result = json.loads(stdout)
        assert result["counts"]["canceled"] == 2
        assert all(emb.sim.store.get(job["remote_id"]) is None for job in result["jobs"])
        assert len(emb.sim.log.creates) == 2
        store.close()


def wait_for_remote_ids(store: Store, batch_id: str, *, count: int) -> list[str]:
    """Wait until ``count`` jobs of the batch have been created on the provider."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            jobs = store.jobs(batch_id)
        except StoreError:
            jobs = []  # the other process has not created the tables yet
        if len([job for job in jobs if job.remote_id is not None]) >= count:
            return [job.id for job in jobs]
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} did not reach the provider in time")
