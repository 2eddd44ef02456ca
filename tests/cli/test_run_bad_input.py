"""``reelforge run`` refuses every malformed batch file with exit 2, and sends nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelforge.cli import app
from reelforge.sim import EmbeddedSimulator

CORPUS = Path(__file__).resolve().parents[1] / "batch" / "corpus"


def _run(runner: CliRunner, gateway: EmbeddedSimulator, path: Path, tmp: Path) -> str:
    result = runner.invoke(
        app,
        [
            "run",
            str(path),
            "--base-url",
            gateway.base_url,
            "--db",
            str(tmp / "db.sqlite"),
            "--out",
            str(tmp / "out"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert gateway.sim.log.requests == []
    assert not (tmp / "out").exists()
    return result.output


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.iterdir()))
def test_every_malformed_file_exits_2_naming_the_file(
    runner: CliRunner, gateway: EmbeddedSimulator, tmp_path: Path, name: str
) -> None:
    output = _run(runner, gateway, CORPUS / name, tmp_path)
    assert name in output


def test_a_wrong_size_names_the_line_field_and_allowed_values(
    runner: CliRunner, gateway: EmbeddedSimulator, tmp_path: Path
) -> None:
    output = _run(runner, gateway, CORPUS / "pro_size_on_sora2.yaml", tmp_path)
    assert "size" in output
    assert "allowed: 720x1280, 1280x720" in output


def test_a_40000_character_prompt_is_refused(
    runner: CliRunner, gateway: EmbeddedSimulator, tmp_path: Path
) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(f"jobs:\n  - prompt: {'a' * 40_000}\n", encoding="utf-8")
    output = _run(runner, gateway, path, tmp_path)
    assert "long.yaml:2" in output
    assert "32000" in output


def test_a_50_mb_file_is_refused_before_reading(
    runner: CliRunner, gateway: EmbeddedSimulator, tmp_path: Path
) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    output = _run(runner, gateway, path, tmp_path)
    assert "MiB" in output or "MB" in output


@pytest.mark.parametrize("budget", ["0", "-5", "ten", "nan"])
def test_a_bad_budget_is_refused(
    runner: CliRunner, gateway: EmbeddedSimulator, tmp_path: Path, budget: str
) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("jobs:\n  - prompt: a kite\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "run",
            str(path),
            "--base-url",
            gateway.base_url,
            "--budget",
            budget,
            "--db",
            str(tmp_path / "db.sqlite"),
        ],
    )
    assert result.exit_code == 2
    assert "budget" in result.output
    assert gateway.sim.log.requests == []
