"""One campaign, two providers: Veo 3.1 on fal beside Veo 3.1 on Replicate, chosen by override.

With no credentials for either, the built-in simulator serves both protocols; the ledger and
``reelforge cost --by provider`` split the money by provider, at the catalogs' prices.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from tests.campaign.conftest import WriteCampaign
from typer.testing import CliRunner

from reelforge.cli.main import app
from reelforge.core.models import JobState
from reelforge.store import Store

pytestmark = pytest.mark.slow

CAMPAIGN = """\
campaign: veo-compare
brand: Acme
product_category: sparkling water
big_idea: Refreshment that keeps up with you
defaults: {provider: fal, model: fal-ai/veo3.1, seconds: 4, resolution: 720p}
dimensions:
  host: [fal, replicate]
  aesthetic: [cinematic, lo-fi handheld, pastel minimal]
overrides:
  - when: {host: replicate}
    set: {provider: replicate, model: google/veo-3.1, audio: false}
template: >
  {{ aesthetic }} video ad for {{ brand }} {{ product_category }}: {{ big_idea }}.
rules:
  banned_words: [cheap]
  required_phrases: []
  competitors: []
"""
FAL_CLIP = Decimal("0.40") * 4  # fal Veo 3.1, 720p with audio (the model's default)
REPLICATE_CLIP = Decimal("0.20") * 4  # Replicate Veo 3.1, silent


def test_a_campaign_compares_veo_on_fal_with_veo_on_replicate(
    write_campaign: WriteCampaign, tmp_path: Path
) -> None:
    path = write_campaign(CAMPAIGN)
    db = tmp_path / "db.sqlite"
    env = {"FAL_KEY": "", "REPLICATE_API_TOKEN": "", "OPENAI_API_KEY": "", "COLUMNS": "200"}
    run = CliRunner().invoke(
        app,
        ["campaign", "run", str(path), "--db", str(db), "--out", str(tmp_path / "out")],
        env=env,
    )
    assert run.exit_code == 0, run.output
    assert "for fal, replicate" in run.stderr  # the simulator says whom it serves

    with Store(f"sqlite:///{db}") as store:
        jobs = store.jobs("veo-compare")
    assert len(jobs) == 6
    assert {job.state for job in jobs} == {JobState.DONE}
    by_host = {job.labels["host"]: set() for job in jobs}
    for job in jobs:
        by_host[job.labels["host"]].add((job.provider, job.model))
    assert by_host == {
        "fal": {("fal", "fal-ai/veo3.1")},
        "replicate": {("replicate", "google/veo-3.1")},
    }
    for job in jobs:
        record = json.loads((tmp_path / "out" / "veo-compare" / job.key / "job.json").read_text())
        assert record["spec"]["provider"] == job.provider
        assert record["state"] == "done"

    report = CliRunner().invoke(
        app, ["cost", "--by", "provider", "--db", str(db), "--json"], env=env
    )
    assert report.exit_code == 0, report.output
    lines = {line["group"]: line for line in json.loads(report.stdout)["lines"]}
    assert set(lines) == {"fal", "replicate"}
    assert lines["fal"]["jobs"] == lines["replicate"]["jobs"] == 3
    assert Decimal(lines["fal"]["actual"]) == 3 * FAL_CLIP
    assert Decimal(lines["replicate"]["actual"]) == 3 * REPLICATE_CLIP
    by_model = CliRunner().invoke(
        app, ["cost", "--by", "model", "--db", str(db), "--json"], env=env
    )
    models = {line["group"] for line in json.loads(by_model.stdout)["lines"]}
    assert models == {"fal-ai/veo3.1", "google/veo-3.1"}
