"""A campaign planned, reviewed and recorded a slice at a time gives what the whole-list path
gives: the same combinations, names, verdicts and totals, and the same jobs recorded."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from tests.campaign.conftest import WriteCampaign

from reelforge.app import Forge, review_campaign
from reelforge.app.campaignrun import (
    REPORT_CSV,
    REPORT_JSON,
    review_slices,
    review_totals,
    submit_campaign,
)
from reelforge.campaign import Campaign
from reelforge.campaign.expand import combination_names, expand, iter_expand, iter_names
from reelforge.core.errors import ErrorCategory, InvalidSpecError
from reelforge.core.models import JobState
from reelforge.store import Store

CLAIM = (
    '{% if type == "testimonial" %} They say: "Acme is clinically proven to boost your '
    'energy."{% endif %}'
)

DIMENSION_SETS = [
    {"a": ["x", "y", "z"], "b": ["1", "2"]},
    # Slugs with different numbers of parts: "a-b" + "c" and "a" + "b-c" share a name.
    {"first": ["a-b", "a"], "second": ["c", "b-c"]},
    # Two values with one slug ("Hot!" and "hot").
    {"t": ["Hot!", "hot", "cold"], "u": ["Gen Z", "gen-z2"]},
    # Names too long or unsafe get a part of the id.
    {"long": ["x" * 70, "CON", "ok"], "v": ["..", "v"]},
]


@pytest.mark.parametrize("dimensions", DIMENSION_SETS)
@pytest.mark.parametrize(
    ("exclude", "limit"), [([], None), ([], 3), ([{"a": "x"}, {"first": "a"}], None), ([], 100)]
)
def test_streamed_expansion_and_names_match_the_lists(
    dimensions: dict[str, list[str]], exclude: list[dict[str, str]], limit: int | None
) -> None:
    for seed in (1, 7):
        listed = expand(dimensions, exclude, limit, seed)
        assert list(iter_expand(dimensions, exclude, limit, seed)) == listed
        names = list(iter_names(dimensions, iter(listed)))
        assert names == list(zip(combination_names(listed), listed, strict=True))


@pytest.mark.parametrize("size", [1, 3, 4, 7, 1000])
def test_plan_slices_are_the_plan(write_campaign: WriteCampaign, matrix: str, size: int) -> None:
    campaign = Campaign.load(write_campaign(matrix.replace("limit: 20", "limit: 13")))
    slices = list(campaign.plan_slices(size))
    assert all(0 < len(part) <= size for part in slices)
    assert tuple(c for part in slices for c in part) == campaign.plan().combinations


def test_review_slices_and_totals_match_the_review(
    write_campaign: WriteCampaign, matrix: str
) -> None:
    path = write_campaign(matrix.replace("enjoys a cold can.", "enjoys a cold can." + CLAIM))
    campaign = Campaign.load(path)
    budget = Decimal(8)
    review = review_campaign(campaign, budget=budget)
    streamed = [item for part in review_slices(campaign, size=3, budget=budget) for item in part]
    assert tuple(streamed) == review.combinations
    totals = review_totals(campaign, size=4, budget=budget)
    assert totals.to_dict() == review.to_dict()["totals"]
    assert review.rejected  # the campaign exercises both
    assert review.over_budget
    with pytest.raises(InvalidSpecError, match="over the budget"):
        totals.check_budget()
    review_totals(campaign, budget=Decimal(1000)).check_budget()


async def test_submit_campaign_records_what_run_campaign_records(
    write_campaign: WriteCampaign, matrix: str, tmp_path: Path
) -> None:
    text = matrix.replace("enjoys a cold can.", "enjoys a cold can." + CLAIM)
    campaign = Campaign.load(write_campaign(text.replace("seconds: 8", "seconds: 4")))
    review = review_campaign(campaign)
    out = tmp_path / "out"
    db = tmp_path / "db.sqlite"
    forge = Forge(simulator=True, out=out, db=db)
    async with forge, forge.running(batch=campaign.slug) as (engine, _):
        batch_id, totals = await submit_campaign(engine, campaign, out=out, size=4)
        summary = await engine.wait(batch_id)
    assert batch_id == review.batch_name
    assert totals.to_dict() == review.to_dict()["totals"]
    assert summary.counts[JobState.DONE] == len(review.accepted)
    assert summary.counts[JobState.REJECTED] == len(review.rejected) > 0

    jobs = Store(f"sqlite:///{db}").jobs(batch_id)
    assert [(j.key, j.position, j.spec) for j in jobs] == [
        (c.combination.key, i, c.combination.spec) for i, c in enumerate(review.combinations)
    ]
    for job, item in zip(jobs, review.combinations, strict=True):
        if item.accepted:
            assert job.state is JobState.DONE
        else:
            assert job.state is JobState.REJECTED
            assert job.category is ErrorCategory.COMPLIANCE
            assert job.error == item.reason

    folder = out / batch_id
    with (folder / REPORT_CSV).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 1 + len(review.combinations)
    assert [row[0] for row in rows[1:]] == [c.combination.id for c in review.combinations]
    report = json.loads((folder / REPORT_JSON).read_text("utf-8"))
    assert report["totals"] == review.to_dict()["totals"]


async def test_submit_campaign_refuses_over_budget_before_recording(
    write_campaign: WriteCampaign, matrix: str, tmp_path: Path
) -> None:
    campaign = Campaign.load(write_campaign(matrix))
    out = tmp_path / "out"
    db = tmp_path / "db.sqlite"
    forge = Forge(simulator=True, out=out, db=db)
    async with forge, forge.running(batch=campaign.slug) as (engine, _):
        with pytest.raises(InvalidSpecError, match="over the budget"):
            await submit_campaign(engine, campaign, out=out, budget=Decimal("0.01"))
    assert Store(f"sqlite:///{db}").jobs(campaign.slug) == []
