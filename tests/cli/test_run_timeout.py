"""A job that outlives ``--timeout`` is left for ``reelforge reconcile``, with its remote id."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelforge.cli import app
from reelforge.sim import EmbeddedSimulator, SimConfig


@pytest.mark.slow
def test_a_job_past_its_timeout_needs_review_and_keeps_its_remote_id(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    batch = tmp_path / "slow.yaml"
    batch.write_text("jobs:\n  - {prompt: A slow sunrise, key: sunrise}\n", encoding="utf-8")
    with EmbeddedSimulator(SimConfig(time_scale=10)) as emb:
        result = runner.invoke(
            app,
            [
                "run",
                str(batch),
                "--timeout",
                "1",
                "--base-url",
                emb.base_url,
                "--db",
                str(tmp_path / "db.sqlite"),
                "--out",
                str(tmp_path / "out"),
                "--json",
            ],
        )
        assert result.exit_code == 1, result.output
        (job,) = json.loads(result.stdout)["jobs"]
        assert job["state"] == "needs_review"
        assert job["category"] == "timeout"
        assert job["remote_id"] == emb.sim.log.creates[0].video_id
        assert "reconcile" in job["error"]
        assert len(emb.sim.log.creates) == 1


@pytest.mark.slow
def test_a_provider_that_cannot_be_reached_fails_the_job_after_its_timeout(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens: every create is refused before it is sent, so the job is tried again
    (with a note), then fails once its timeout has passed, having cost nothing; run returns."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    batch = tmp_path / "down.yaml"
    batch.write_text("jobs:\n  - {prompt: A quiet harbour, key: harbour}\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            *("run", str(batch), "--timeout", "3", "--base-url", closed),
            *("--db", str(tmp_path / "db.sqlite"), "--out", str(tmp_path / "out"), "--json"),
        ],
    )
    assert result.exit_code == 1, result.output
    (job,) = json.loads(result.stdout)["jobs"]
    assert job["state"] == "failed", job
    assert job["category"] == "transient", job
    assert "could not be sent for 3 s (nothing was created)" in job["error"], job
    record = json.loads((tmp_path / "out" / "down" / "harbour" / "job.json").read_text())
    assert record["state"] == "failed"
    assert record["cost"]["actual"] == "0"
