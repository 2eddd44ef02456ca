"""Running a campaign again after it changed: what an earlier run recorded but did not send is
checked against today's plan and rules before the engine starts, so nothing is sent that this
run would not send."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.campaign.conftest import WriteCampaign

from reelforge.app import Forge, review_campaign
from reelforge.campaign import Campaign
from reelforge.core.errors import ConfigError, ErrorCategory, InvalidSpecError
from reelforge.core.models import JobState
from reelforge.core.pricing import default_prices
from reelforge.sim import EmbeddedSimulator, SimConfig
from reelforge.store import NewJob, Store

pytestmark = pytest.mark.slow

SMALL = """\
campaign: rerun
brand: Acme
product_category: sparkling water
big_idea: Refreshment that keeps up with you
defaults: {provider: openai, model: sora-2, seconds: 4, size: 1280x720}
dimensions:
  aesthetic: [cinematic, retro]
  gender: [female, male]
template: "{{ aesthetic }} ad for {{ brand }}: a {{ gender }} with a THRILL can."
"""


@pytest.fixture
def sim() -> Iterator[EmbeddedSimulator]:
    with EmbeddedSimulator(SimConfig()) as emb:
        yield emb


def _record(db: Path, campaign: Campaign, account: str) -> None:
    """What an interrupted first run leaves: every combination recorded, nothing sent."""
    plan = campaign.plan()
    with Store(f"sqlite:///{db}") as store:
        store.migrate()
        store.upsert_batch(plan.campaign, name=plan.campaign, out_dir="out")
        store.add_jobs(
            plan.campaign,
            [
                NewJob(
                    key=c.key,
                    spec=c.spec,
                    position=i,
                    account=account,
                    estimated_cost=default_prices().estimate(c.spec),
                )
                for i, c in enumerate(plan.combinations)
            ],
        )


async def test_recorded_prompts_that_todays_rules_reject_are_not_sent(
    sim: EmbeddedSimulator, write_campaign: WriteCampaign, tmp_path: Path
) -> None:
    db = tmp_path / "db.sqlite"
    first = Campaign.load(write_campaign(SMALL.replace("THRILL", "cheap thrill")))
    # Second version: "cheap" banned and gone from the template; "retro" dropped.
    second = Campaign.load(
        write_campaign(
            SMALL.replace("[cinematic, retro]", "[cinematic]")
            + "rules: {banned_words: [cheap], required_phrases: [], competitors: []}\n"
        )
    )
    async with Forge(base_url=sim.base_url, api_key="sk-rerun", out=tmp_path, db=db) as forge:
        _record(db, first, forge.account())
        result = await forge.run(second)

    jobs = {job.key: job for job in result.batch.jobs}
    assert set(jobs) == {
        "cinematic-female",
        "cinematic-male",
        "retro-female",
        "retro-male",
    }
    for key in ("cinematic-female", "cinematic-male"):  # recorded with "cheap": now banned
        assert jobs[key].state is JobState.REJECTED
        assert jobs[key].category is ErrorCategory.COMPLIANCE
        assert "brand.banned.cheap" in (jobs[key].error or "")
    for key in ("retro-female", "retro-male"):  # no longer in the campaign
        assert jobs[key].state is JobState.REJECTED
        assert "not in the campaign any more" in (jobs[key].error or "")
    assert sim.sim.log.creates == []
    # Accepted today, rejected for good earlier: not ok, and said so.
    assert result.still_rejected == ("cinematic-female", "cinematic-male")
    assert not result.ok


async def test_unfinished_jobs_of_another_endpoint_stop_the_run_before_it_starts(
    sim: EmbeddedSimulator, write_campaign: WriteCampaign, tmp_path: Path
) -> None:
    db = tmp_path / "db.sqlite"
    campaign = Campaign.load(write_campaign(SMALL))
    _record(db, campaign, "openai-0123456789abcdef")  # e.g. an earlier embedded simulator
    async with Forge(base_url=sim.base_url, api_key="sk-rerun", out=tmp_path, db=db) as forge:
        with pytest.raises(ConfigError, match="recorded with another endpoint or API key"):
            await forge.run(campaign)
    assert sim.sim.log.requests == []


async def test_a_review_runs_with_its_own_budget_or_not_at_all(
    write_campaign: WriteCampaign, tmp_path: Path
) -> None:
    review = review_campaign(Campaign.load(write_campaign(SMALL)))
    async with Forge(simulator=True, out=tmp_path, db=tmp_path / "db.sqlite") as forge:
        with pytest.raises(InvalidSpecError, match="differs from the review's"):
            await forge.run(review, budget=Decimal("1.00"))
        assert forge.simulator is not None
        assert forge.simulator.log.creates == []
