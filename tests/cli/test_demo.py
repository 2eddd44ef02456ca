"""`reelforge demo`: the example campaign on the simulator, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelforge.app.demo import demo_campaign, demo_campaign_path
from reelforge.cli.main import app

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_in_the_repository_is_the_packaged_demo() -> None:
    example = ROOT / "examples" / "campaign.yaml"
    assert example.read_bytes() == demo_campaign_path().read_bytes()


def test_demo_runs_the_example_campaign(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    plan = demo_campaign().plan()
    assert data["campaign"]["combinations"] == len(plan) == 20
    assert data["counts"]["rejected"] == data["campaign"]["rejected"] == 5
    assert data["counts"]["done"] == 15
    folder = tmp_path / "spring-launch"
    assert (folder / "compliance.csv").is_file()
    for job in data["jobs"]:
        video = folder / job["key"] / "video.mp4"
        assert video.is_file() == (job["state"] == "done")
