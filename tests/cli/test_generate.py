from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelforge.cli import app
from reelforge.sim import EmbeddedSimulator

SECRET = "sk-test-secret-value-123"


@pytest.mark.parametrize(
    ("args", "field_message"),
    [
        (["--seconds", "10"], "allowed: 4, 8, 12"),
        (["--seconds", "25"], "allowed: 4, 8, 12"),
        (["--size", "1:1"], "allowed: 9:16, 16:9, 720x1280, 1280x720"),
        (["--size", "1792x1024"], "allowed: 720x1280, 1280x720"),
        (["--input-reference", "missing.png"], "input reference"),
    ],
)
def test_bad_input_exits_2_and_sends_nothing(
    runner: CliRunner,
    gateway: EmbeddedSimulator,
    tmp_path: Path,
    args: list[str],
    field_message: str,
) -> None:
    result = runner.invoke(
        app,
        ["generate", "A kite", "--base-url", gateway.base_url, "--out", str(tmp_path), *args],
    )
    assert result.exit_code == 2, result.output
    assert field_message in result.output
    assert gateway.sim.log.requests == []
    assert list(tmp_path.iterdir()) == []


def test_empty_prompt_exits_2(runner: CliRunner, gateway: EmbeddedSimulator) -> None:
    result = runner.invoke(app, ["generate", "  ", "--base-url", gateway.base_url])
    assert result.exit_code == 2
    assert "prompt is empty" in result.output
    assert gateway.sim.log.requests == []


def test_non_numeric_seconds_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["generate", "A kite", "--seconds", "ten"])
    assert result.exit_code == 2
    assert "seconds" in result.output


@pytest.mark.slow
def test_generate_on_the_embedded_simulator(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "generate",
            "A red kite over dunes",
            "--seconds",
            "4",
            "--size",
            "16:9",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(
        "Using the built-in simulator at http://127.0.0.1:"
    )
    (job_dir,) = tmp_path.iterdir()
    record = json.loads((job_dir / "job.json").read_text())
    assert record["state"] == "done"
    assert record["spec"]["size"] == "1280x720"
    assert record["cost"]["estimated"] == "0.4000"
    assert [h["status"] for h in record["history"]][-1] == "completed"
    for name in ("video", "thumbnail", "spritesheet"):
        asset = record["assets"][name]
        data = (job_dir / asset["file"]).read_bytes()
        assert len(data) == asset["bytes"]
        assert hashlib.sha256(data).hexdigest() == asset["sha256"]
    assert not list(job_dir.glob("*.part"))
    assert "$0.40" in result.output


@pytest.mark.slow
def test_json_output_and_no_secret_anywhere(
    runner: CliRunner, gateway: EmbeddedSimulator, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "generate",
            "A lighthouse",
            "--base-url",
            gateway.base_url,
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["state"] == "done"
    assert data["simulator"] is False
    assert len(gateway.sim.log.creates) == 1
    assert gateway.sim.log.creates[0].video_id == data["remote_id"]
    assert data["assets"]["video"]["sha256"] == gateway.sim.asset_sha256(data["remote_id"], "video")
    job_json = (Path(data["dir"]) / "job.json").read_text()
    assert SECRET not in job_json
    assert SECRET not in result.output


def test_unknown_model_on_a_server_that_lacks_it_suggests_base_url(
    runner: CliRunner, gateway: EmbeddedSimulator, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "generate",
            "A kite",
            "--model",
            "sora-3",
            "--base-url",
            gateway.base_url,
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "sora-3" in result.output
    assert "--base-url" in result.output
    assert SECRET not in result.output
