"""Bad campaign files through the CLI: exit 2, a precise message, nothing sent or written."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.campaign.conftest import WriteCampaign
from typer.testing import CliRunner

from reelforge.cli.main import app

CASES = [
    pytest.param(
        ("enjoys a cold can.", "enjoys a {{ flavour }} can."),
        "campaign.yaml:18: template: unknown variable 'flavour'; known variables:",
        id="unknown-template-variable",
    ),
    pytest.param(
        ("gender: [female, male]", "gender: []"),
        "campaign.yaml:10: dimensions.gender",
        id="dimension-without-values",
    ),
    pytest.param(
        ("when: {type: testimonial}", "when: {format: testimonial}"),
        "campaign.yaml:12: overrides.0.when.format: unknown dimension 'format'",
        id="override-unknown-dimension",
    ),
    pytest.param(
        ('set: {size: "9:16"}', "set: {size: 1024x1792}"),
        "campaign.yaml:13: overrides.0.set.size",
        id="override-invalid-size",
    ),
    pytest.param(
        ("enjoys a cold can.", "enjoys a {% if gender %} can."),
        "campaign.yaml:18: template: syntax error on template line",
        id="template-syntax-error",
    ),
]


@pytest.mark.parametrize("command", ["plan", "run"])
@pytest.mark.parametrize(("edit", "message"), CASES)
def test_bad_campaign_exits_2_with_a_precise_message(
    write_campaign: WriteCampaign,
    matrix: str,
    tmp_path: Path,
    command: str,
    edit: tuple[str, str],
    message: str,
) -> None:
    old, new = edit
    assert old in matrix
    path = write_campaign(matrix.replace(old, new))
    out = tmp_path / "out"
    args = ["campaign", command, str(path)]
    if command == "run":
        args += ["--out", str(out)]

    result = CliRunner().invoke(
        app, args, env={"COLUMNS": "300", "REELFORGE_DB_URL": str(tmp_path / "db.sqlite")}
    )

    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not out.exists()
    assert not (tmp_path / "db.sqlite").exists()


def test_bad_budget_names_the_option(write_campaign: WriteCampaign, matrix: str) -> None:
    result = CliRunner().invoke(
        app, ["campaign", "plan", str(write_campaign(matrix)), "--budget", "lots"]
    )
    assert result.exit_code == 2
    assert "budget 'lots' is not a positive amount of dollars" in result.output


def test_missing_campaign_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["campaign", "plan", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml" in result.output
