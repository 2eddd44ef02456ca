from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelforge import __version__
from reelforge.cli import app
from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig


@pytest.fixture
def strict_gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedSimulator]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    config = SimConfig(faults=FaultConfig(moderation_patterns=(r"\bexplosion\b",)))
    with EmbeddedSimulator(config) as emb:
        yield emb


@pytest.mark.slow
def test_a_job_the_provider_fails_exits_1_with_its_reason(
    runner: CliRunner, strict_gateway: EmbeddedSimulator, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "generate",
            "A huge explosion downtown",
            "--base-url",
            strict_gateway.base_url,
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "content_policy" in result.output
    assert "moderation" in result.output.lower()
    (job_dir,) = tmp_path.iterdir()
    record = json.loads((job_dir / "job.json").read_text())
    assert record["state"] == "failed"
    assert record["error"]["category"] == "content_policy"
    assert record["assets"] == {}
    assert record["cost"]["actual"] == "0"
    assert len(strict_gateway.sim.log.creates) == 1


def test_sim_config_with_an_unknown_key_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "sim.yaml"
    config.write_text("time_scale: 5\nfaults:\n  explode_rate: 0.5\n", encoding="utf-8")
    result = runner.invoke(app, ["sim", "--config", str(config)])
    assert result.exit_code == 2
    assert "explode_rate" in result.output


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"reelforge {__version__}"
