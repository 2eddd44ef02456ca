"""The optional stages before compliance, through the CLI against a gateway: the prompt writer
(cached by input: a re-run sends no request) and the moderation check (flagged: never sent)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.campaign.conftest import WriteCampaign
from typer.testing import CliRunner

from reelforge.cli.main import app
from reelforge.sim import EmbeddedSimulator, SimConfig

pytestmark = pytest.mark.slow

KEY = "sk-test-secret-stages-0042"


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedSimulator]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with EmbeddedSimulator(SimConfig()) as emb:
        yield emb


def _small(matrix: str) -> str:
    """Four combinations of four seconds: cinematic/lo-fi x female/male, product hero, Gen Z."""
    return (
        matrix.replace("[cinematic, lo-fi handheld, pastel minimal]", "[cinematic, lo-fi handheld]")
        .replace("[product hero, lifestyle, testimonial]", "[product hero]")
        .replace("[Gen Z, Millennial]", "[Gen Z]")
        .replace("seconds: 8", "seconds: 4")
        .replace('overrides:\n  - when: {type: testimonial}\n    set: {size: "9:16"}\n', "")
        .replace("exclude:\n  - {aesthetic: pastel minimal, type: testimonial}\n", "")
    )


def _posts(emb: EmbeddedSimulator, path: str) -> int:
    return sum(r.method == "POST" and r.path == path for r in emb.sim.log.requests)


def test_written_prompts_are_checked_sent_and_cached(
    gateway: EmbeddedSimulator, write_campaign: WriteCampaign, matrix: str, tmp_path: Path
) -> None:
    path = write_campaign(_small(matrix))
    args = [
        "campaign",
        "run",
        str(path),
        "--base-url",
        gateway.base_url,
        "--out",
        str(tmp_path / "out"),
        "--db",
        str(tmp_path / "db.sqlite"),
        "--write-prompts",
        "--prompt-cache",
        str(tmp_path / "cache"),
        "--json",
    ]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert _posts(gateway, "/v1/responses") == 4
    sent = sorted(record.prompt for record in gateway.sim.log.creates)
    assert len(sent) == 4
    assert all(prompt.startswith("Single continuous shot.") for prompt in sent)
    report = json.loads((tmp_path / "out" / "spring-launch" / "compliance.json").read_text())
    assert sorted(c["prompt"] for c in report["combinations"]) == sent
    assert all(c["rendered_prompt"] in c["prompt"] for c in report["combinations"])
    assert KEY not in first.output

    # The same run again: every description comes from the cache, no video is created again.
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert _posts(gateway, "/v1/responses") == 4
    assert len(gateway.sim.log.creates) == 4


def test_moderation_flags_block_a_combination(
    gateway: EmbeddedSimulator, write_campaign: WriteCampaign, matrix: str, tmp_path: Path
) -> None:
    text = _small(matrix).replace(
        "enjoys a cold can.",
        '{% if gender == "male" %}is called a worthless idiot, then {% endif %}enjoys a cold can.',
    )
    path = write_campaign(text)
    common = ["--base-url", gateway.base_url, "--moderation", "--json"]

    planned = CliRunner().invoke(app, ["campaign", "plan", str(path), *common])
    assert planned.exit_code == 0, planned.output
    verdicts = {c["dimensions"]["gender"]: c for c in json.loads(planned.stdout)["combinations"]}
    assert all(c["verdict"] == "clean" for g, c in verdicts.items() if g == "female")
    flagged = [c for g, c in verdicts.items() if g == "male"]
    assert flagged
    assert flagged[0]["verdict"] == "reject"
    assert [f["rule"] for f in flagged[0]["findings"]] == ["moderation.harassment"]
    assert _posts(gateway, "/v1/videos") == 0  # planning sends no video

    out = tmp_path / "out"
    ran = CliRunner().invoke(
        app,
        ["campaign", "run", str(path), *common, "--out", str(out), "--db", str(tmp_path / "db")],
    )
    assert ran.exit_code == 0, ran.output
    data = json.loads(ran.stdout)
    assert data["counts"]["rejected"] == 2
    assert data["counts"]["done"] == 2
    assert not any("idiot" in record.prompt for record in gateway.sim.log.creates)
