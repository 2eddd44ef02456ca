"""A job that outlives ``--timeout`` is left for ``reelforge reconcile``, with its remote id."""

from __future__ import annotations

import json
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
