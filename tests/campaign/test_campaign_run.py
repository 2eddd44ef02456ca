"""`campaign plan` / `campaign run` and `Forge.run(campaign)` end to end on the simulator.

Rejected prompts must never reach the simulator; accepted ones all finish; `job.json`, the
compliance report and the ledger carry the combination.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from tests.campaign.conftest import WriteCampaign
from typer.testing import CliRunner

from reelforge.app import CampaignResult, Forge, review_campaign
from reelforge.campaign import Campaign
from reelforge.cli.main import app
from reelforge.core.errors import ErrorCategory, InvalidSpecError
from reelforge.core.models import JobState
from reelforge.sim import EmbeddedSimulator, SimConfig
from reelforge.store import Store

pytestmark = pytest.mark.slow

CLAIM = (
    '{% if type == "testimonial" %} They say: "Acme is clinically proven to boost your '
    'energy."{% endif %}'
)


@pytest.fixture
def claim_campaign(write_campaign: WriteCampaign, matrix: str) -> Path:
    """The 3x3x2x2 matrix whose testimonials make a clinical claim (compliance rejects)."""
    text = matrix.replace("enjoys a cold can.", "enjoys a cold can." + CLAIM)
    return write_campaign(text.replace("seconds: 8", "seconds: 4"))


async def test_forge_runs_a_campaign(claim_campaign: Path, tmp_path: Path) -> None:
    campaign = Campaign.load(claim_campaign)
    out = tmp_path / "out"
    async with Forge(simulator=True, out=out, db=tmp_path / "db.sqlite") as forge:
        result = await forge.run(campaign)
        sim = forge.simulator
        assert sim is not None
        sent_prompts = [record.prompt for record in sim.log.creates]
        requests = list(sim.log.requests)

    assert isinstance(result, CampaignResult)
    review = result.review
    rejected = {c.combination.key for c in review.rejected}
    accepted = {c.combination.key for c in review.accepted}
    testimonials = {
        c.key for c in campaign.plan().combinations if c.dimensions["type"] == "testimonial"
    }
    assert rejected == testimonials
    assert len(rejected) == 5  # of the seeded sample of 20
    assert len(accepted) == 15

    # Rejected prompts were never sent; every accepted one was created once and finished.
    assert len(sent_prompts) == len(accepted)
    assert sum(r.method == "POST" and r.path == "/v1/videos" for r in requests) == len(accepted)
    assert sorted(sent_prompts) == sorted(c.combination.prompt for c in review.accepted)
    assert not any("clinically" in prompt for prompt in sent_prompts)
    states = {job.key: job for job in result.batch.jobs}
    assert {k for k, j in states.items() if j.state is JobState.DONE} == accepted
    for key in rejected:
        job = states[key]
        assert job.state is JobState.REJECTED
        assert job.category is ErrorCategory.COMPLIANCE
        assert job.error is not None
        assert "claims.clinically-proven" in job.error
        assert not (out / review.batch_name / key).exists()
    assert result.ok

    # job.json carries the combination's dimensions.
    one = review.accepted[0].combination
    record = json.loads((out / review.batch_name / one.key / "job.json").read_text("utf-8"))
    assert record["campaign"]["combination_id"] == one.id
    assert record["campaign"]["dimensions"] == dict(one.dimensions)
    assert record["campaign"]["brand"] == "Acme"

    # The report, beside the outputs, carries them too, with the verdicts.
    csv_path, json_path = result.report
    assert csv_path.parent == json_path.parent == out / review.batch_name
    with csv_path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20
    by_id = {row["combination_id"]: row for row in rows}
    for item in review.combinations:
        row = by_id[item.combination.id]
        for name, value in item.combination.dimensions.items():
            assert row[name] == value
        assert row["verdict"] == ("reject" if not item.accepted else item.verdict.value)
    assert all("clinically proven" in by_id[c.combination.id]["reasons"] for c in review.rejected)
    report = json.loads(json_path.read_text("utf-8"))
    assert report["totals"]["rejected"] == 5
    assert {c["id"]: c["dimensions"] for c in report["combinations"]} == {
        c.combination.id: dict(c.combination.dimensions) for c in review.combinations
    }

    # The ledger groups by brand: the accepted jobs' cost, nothing for the rejected ones.
    with Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        lines = store.cost_report(by="brand")
    assert [(line.group, line.actual) for line in lines] == [
        ("Acme", Decimal("0.40") * len(accepted))
    ]


async def test_running_a_campaign_again_sends_nothing_new(
    claim_campaign: Path, tmp_path: Path
) -> None:
    """A second run of the same campaign on the same database continues it: no new creates,
    and the rejected ones stay rejected."""
    campaign = Campaign.load(claim_campaign)
    sim_config = SimConfig()
    with EmbeddedSimulator(sim_config) as emb:
        for _ in range(2):
            async with Forge(
                base_url=emb.base_url, api_key="sk-test", out=tmp_path, db=tmp_path / "db.sqlite"
            ) as forge:
                result = await forge.run(campaign)
            assert result.ok
        assert len(emb.sim.log.creates) == 15


def test_plan_over_budget_says_which_fit(claim_campaign: Path) -> None:
    result = CliRunner().invoke(
        app, ["campaign", "plan", str(claim_campaign), "--budget", "3"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    review = review_campaign(Campaign.load(claim_campaign), budget=Decimal(3))
    fitting = [c.combination.name for c in review.fitting]
    assert len(fitting) == 7  # $0.40 each: 7 x 0.40 = 2.80 <= 3.00 < 3.20
    assert "Over budget" in result.output
    assert "fit: " + ", ".join(fitting) in result.output
    left_out = [c.combination.name for c in review.accepted if not c.fits]
    assert "do not fit: " + ", ".join(left_out) in result.output

    as_json = CliRunner().invoke(
        app, ["campaign", "plan", str(claim_campaign), "--budget", "3", "--json"]
    )
    data = json.loads(as_json.stdout)
    assert data["totals"]["over_budget"] is True
    assert data["totals"]["fitting"] == 7
    assert [c["name"] for c in data["combinations"] if c["fits_budget"]] == fitting
    assert all(not c["fits_budget"] for c in data["combinations"] if c["verdict"] == "reject")


def test_plan_prints_every_combination_with_prompt_verdict_params_cost(
    claim_campaign: Path,
) -> None:
    result = CliRunner().invoke(
        app, ["campaign", "plan", str(claim_campaign)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    review = review_campaign(Campaign.load(claim_campaign))
    for item in review.combinations:
        c = item.combination
        assert f"{c.name}  {c.id}  {item.verdict.value}  {c.spec.model} {c.spec.seconds}s" in (
            result.output
        )
        assert f"prompt: {c.prompt}" in result.output
    assert result.output.count("claims.clinically-proven") == 5
    assert "$6.00" in result.output  # 15 accepted x $0.40


def test_run_refuses_to_exceed_the_budget(claim_campaign: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["campaign", "run", str(claim_campaign), "--budget", "3", "--out", str(out)],
        env={"COLUMNS": "200", "REELFORGE_DB_URL": str(tmp_path / "db.sqlite")},
    )
    assert result.exit_code == 2, result.output
    assert "over the budget of $3.00" in result.output
    assert "the first 7 fit ($2.80)" in result.output
    assert "Nothing was sent" in result.output
    assert not out.exists()  # no report, no job folders: refused before anything started


async def test_forge_run_refuses_a_campaign_over_budget(
    claim_campaign: Path, tmp_path: Path
) -> None:
    async with Forge(simulator=True, out=tmp_path, db=tmp_path / "db.sqlite") as forge:
        with pytest.raises(InvalidSpecError, match="over the budget") as info:
            await forge.run(Campaign.load(claim_campaign), budget=Decimal("5.99"))
        assert info.value.field == "budget"
        sim = forge.simulator
        assert sim is not None
        assert sim.log.requests == []
        assert sim.log.creates == []


def test_run_json_reports_counts_and_report_paths(claim_campaign: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["campaign", "run", str(claim_campaign), "--out", str(out), "--json", "--budget", "7"],
        env={"REELFORGE_DB_URL": str(tmp_path / "db.sqlite")},
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"]["done"] == 15
    assert data["counts"]["rejected"] == 5
    assert data["campaign"]["rejected"] == 5
    assert Path(data["report"]["csv"]).is_file()
    assert Path(data["report"]["json"]).is_file()
    rejected = [job for job in data["jobs"] if job["state"] == "rejected"]
    assert {job["category"] for job in rejected} == {"compliance"}
    assert all(job["labels"]["type"] == "testimonial" for job in rejected)
