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


FIVE = """\
campaign: five-hosts
brand: Acme
product_category: sparkling water
big_idea: Refreshment that keeps up with you
defaults: {provider: openai, model: sora-2, seconds: 4}
dimensions:
  host: [gateway, fal, replicate, runway, vertex]
  aesthetic: [cinematic, pastel minimal]
overrides:
  - when: {host: fal}
    set: {provider: fal, model: fal-ai/veo3.1/fast}
  - when: {host: replicate}
    set: {provider: replicate, model: google/veo-3.1-fast}
  - when: {host: runway}
    set: {provider: runway, model: veo3.1_fast}
  - when: {host: vertex}
    set: {provider: vertex, model: veo-3.1-fast-generate-001}
template: >
  {{ aesthetic }} video ad for {{ brand }} {{ product_category }}: {{ big_idea }}.
rules:
  banned_words: [cheap]
  required_phrases: []
  competitors: []
"""
PER_CLIP = {
    "openai": Decimal("0.10") * 4,  # sora-2
    "fal": Decimal("0.15") * 4,  # Veo 3.1 Fast with audio (estimate)
    "replicate": Decimal("0.15") * 4,  # the same model, resold (estimate)
    "runway": Decimal("0.15") * 4,  # the same model, resold (estimate)
    "vertex": Decimal("0.10") * 4,  # Veo 3.1 Fast at 720p with audio (estimate)
}
NO_CREDENTIALS = dict.fromkeys(
    (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "FAL_KEY",
        "FAL_KEY_ID",
        "FAL_KEY_SECRET",
        "REPLICATE_API_TOKEN",
        "RUNWAYML_API_SECRET",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_APPLICATION_CREDENTIALS",
    )
)


def test_one_campaign_spans_five_providers_on_the_simulator(
    write_campaign: WriteCampaign, tmp_path: Path
) -> None:
    path = write_campaign(FIVE)
    db = tmp_path / "db.sqlite"
    env: dict[str, str | None] = {**NO_CREDENTIALS, "COLUMNS": "200"}
    run = CliRunner().invoke(
        app,
        ["campaign", "run", str(path), "--db", str(db), "--out", str(tmp_path / "out")],
        env=env,
    )
    assert run.exit_code == 0, run.output
    assert "for fal, openai, replicate, runway, vertex" in run.stderr

    with Store(f"sqlite:///{db}") as store:
        jobs = store.jobs("five-hosts")
    assert len(jobs) == 10
    assert {job.state for job in jobs} == {JobState.DONE}
    report = CliRunner().invoke(
        app, ["cost", "--by", "provider", "--db", str(db), "--json"], env=env
    )
    assert report.exit_code == 0, report.output
    lines = {line["group"]: line for line in json.loads(report.stdout)["lines"]}
    assert set(lines) == set(PER_CLIP)
    for provider, price in PER_CLIP.items():
        assert lines[provider]["jobs"] == 2, provider
        assert Decimal(lines[provider]["actual"]) == 2 * price, provider
