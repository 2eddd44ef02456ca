"""Planning: the product, exclusions, the seeded sample, stable ids, overrides, the batch."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import reelforge.campaign
from reelforge.batch import Batch
from reelforge.campaign import Campaign

WriteCampaign = Callable[[str], Path]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "campaign.yaml"

AESTHETICS = ["cinematic", "lo-fi handheld", "pastel minimal"]
TYPES = ["product hero", "lifestyle", "testimonial"]
GENERATIONS = ["Gen Z", "Millennial"]
GENDERS = ["female", "male"]


def _all_kept() -> list[dict[str, str]]:
    return [
        {"aesthetic": a, "type": t, "age_generation": g, "gender": s}
        for a, t, g, s in itertools.product(AESTHETICS, TYPES, GENERATIONS, GENDERS)
        if not (a == "pastel minimal" and t == "testimonial")
    ]


def test_limit_samples_exactly_limit_combinations_without_excluded_ones(
    write_campaign: WriteCampaign,
    matrix: str,
) -> None:
    plan = Campaign.load(write_campaign(matrix)).plan()

    assert len(plan.combinations) == 20
    assert not any(
        c.dimensions["aesthetic"] == "pastel minimal" and c.dimensions["type"] == "testimonial"
        for c in plan.combinations
    )
    assert len({c.id for c in plan.combinations}) == 20
    assert len({c.name for c in plan.combinations}) == 20


def test_sample_keeps_product_order(write_campaign: WriteCampaign, matrix: str) -> None:
    plan = Campaign.load(write_campaign(matrix)).plan()
    order = _all_kept()
    positions = [order.index(dict(c.dimensions)) for c in plan.combinations]

    assert positions == sorted(positions)


def test_without_limit_plans_full_product_minus_exclusions_in_order(
    write_campaign: WriteCampaign,
    matrix: str,
) -> None:
    plan = Campaign.load(write_campaign(matrix.replace("limit: 20\n", ""))).plan()

    assert [dict(c.dimensions) for c in plan.combinations] == _all_kept()
    assert len(plan.combinations) == 32


def test_plan_is_identical_across_runs(write_campaign: WriteCampaign, matrix: str) -> None:
    path = write_campaign(matrix)

    first = Campaign.load(path).plan()
    second = Campaign.load(path).plan()

    assert first == second


def test_other_seed_gives_another_sample(write_campaign: WriteCampaign, matrix: str) -> None:
    a = Campaign.load(write_campaign(matrix)).plan()
    b = Campaign.load(write_campaign(matrix.replace("seed: 7", "seed: 8"))).plan()

    assert [c.id for c in a.combinations] != [c.id for c in b.combinations]


_PLANNER = (
    "import json, sys\n"
    "from reelforge.campaign import Campaign\n"
    "plan = Campaign.load(sys.argv[1]).plan()\n"
    "print(json.dumps([[c.id, c.name] for c in plan.combinations]))\n"
)


@pytest.mark.parametrize("hash_seed", ["0", "12345"])
def test_ids_and_sample_do_not_depend_on_hash_randomization(
    write_campaign: WriteCampaign, matrix: str, hash_seed: str
) -> None:
    path = write_campaign(matrix)
    here = [[c.id, c.name] for c in Campaign.load(path).plan().combinations]
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}

    result = subprocess.run(  # noqa: S603 -- our own interpreter and a fixed script
        [sys.executable, "-c", _PLANNER, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )

    assert json.loads(result.stdout) == here


def test_ids_are_pinned(write_campaign: WriteCampaign, matrix: str) -> None:
    """The id is a digest of the sorted name=value pairs: a change here breaks every ledger."""
    plan = Campaign.load(write_campaign(matrix.replace("limit: 20\n", ""))).plan()
    first = plan.combinations[0]

    assert first.name == "cinematic-product-hero-gen-z-female"
    assert first.key == first.name
    pairs = sorted(first.dimensions.items())
    canonical = json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))
    assert first.id == hashlib.sha256(canonical.encode()).hexdigest()[:12] == "533bd35456a8"


def test_id_does_not_depend_on_dimension_order(write_campaign: WriteCampaign, matrix: str) -> None:
    swapped = matrix.replace(
        "  age_generation: [Gen Z, Millennial]\n  gender: [female, male]\n",
        "  gender: [female, male]\n  age_generation: [Gen Z, Millennial]\n",
    ).replace("limit: 20\n", "")
    original = Campaign.load(write_campaign(matrix.replace("limit: 20\n", ""))).plan()
    ids = {frozenset(c.dimensions.items()): c.id for c in original.combinations}

    reordered = Campaign.load(write_campaign(swapped)).plan()

    assert {frozenset(c.dimensions.items()): c.id for c in reordered.combinations} == ids
    assert reordered.combinations[0].name == "cinematic-product-hero-female-gen-z"


def test_overrides_apply_in_file_order_on_top_of_defaults(
    write_campaign: WriteCampaign, matrix: str
) -> None:
    text = matrix.replace(
        "overrides:\n",
        "overrides:\n"
        "  - when: {aesthetic: cinematic}\n"
        "    set: {seconds: 12, labels: {tone: bold}}\n"
        "  - when: {aesthetic: cinematic, gender: male}\n"
        "    set: {seconds: 4}\n",
    ).replace("limit: 20\n", "")
    plan = Campaign.load(write_campaign(text)).plan()
    by_name = {c.name: c for c in plan.combinations}

    testimonial = by_name["lo-fi-handheld-testimonial-gen-z-female"].spec
    assert (testimonial.size, testimonial.seconds) == ("720x1280", 8)
    hero = by_name["lo-fi-handheld-product-hero-gen-z-female"].spec
    assert (hero.size, hero.seconds) == ("1280x720", 8)
    assert by_name["cinematic-lifestyle-gen-z-female"].spec.seconds == 12
    assert by_name["cinematic-lifestyle-gen-z-male"].spec.seconds == 4
    assert by_name["cinematic-lifestyle-gen-z-male"].spec.labels["tone"] == "bold"


def test_spec_carries_prompt_and_labels(write_campaign: WriteCampaign, matrix: str) -> None:
    plan = Campaign.load(write_campaign(matrix.replace("limit: 20\n", ""))).plan()
    first = plan.combinations[0]

    assert first.prompt == (
        "cinematic product hero video ad for Acme sparkling water: "
        "Refreshment that keeps up with you. A Gen Z female enjoys a cold can."
    )
    assert first.spec.prompt == first.prompt
    assert dict(first.spec.labels) == {
        "campaign": "spring-launch",
        "brand": "Acme",
        "product_category": "sparkling water",
        "big_idea": "Refreshment that keeps up with you",
        "combination_id": first.id,
        "dimensions": "aesthetic,type,age_generation,gender",
        "aesthetic": "cinematic",
        "type": "product hero",
        "age_generation": "Gen Z",
        "gender": "female",
    }


def test_to_batch_is_keyed_by_name_and_named_after_the_campaign(
    write_campaign: WriteCampaign,
    matrix: str,
) -> None:
    plan = Campaign.load(write_campaign(matrix)).plan()

    batch = plan.to_batch()

    assert isinstance(batch, Batch)
    assert batch.name == "spring-launch"
    assert [job.key for job in batch] == [c.name for c in plan.combinations]
    assert [job.spec for job in batch] == [c.spec for c in plan.combinations]


def test_names_that_slugify_alike_get_id_suffixes(write_campaign: WriteCampaign) -> None:
    text = """\
    campaign: Clash Test
    brand: Acme
    product_category: water
    big_idea: Fresh
    dimensions:
      tone: [Gen Z, gen-z, calm]
    template: "{{ tone }} ad"
    """
    plan = Campaign.load(write_campaign(text)).plan()
    names = [c.name for c in plan.combinations]

    assert names[2] == "calm"
    assert names[0] != names[1]
    assert all(name.startswith("gen-z-") for name in names[:2])
    assert plan.campaign == "clash-test"


def test_rules_are_carried(write_campaign: WriteCampaign, matrix: str) -> None:
    campaign = Campaign.load(write_campaign(matrix))

    assert campaign.rules.banned_words == ("cheap", "diet")
    assert campaign.rules.required_phrases == ()
    assert campaign.rules.competitors == ("Fizzco",)
    assert campaign.exclude == ({"aesthetic": "pastel minimal", "type": "testimonial"},)
    assert campaign.overrides == (({"type": "testimonial"}, {"size": "9:16"}),)
    assert campaign.slug == "spring-launch"


def test_example_campaign_loads_and_plans() -> None:
    plan = Campaign.load(EXAMPLE).plan()

    assert len(plan.combinations) == 20
    claims = [c for c in plan.combinations if "clinically proven" in c.prompt]
    assert claims
    assert all(c.spec.size == "720x1280" for c in claims)
    assert len(plan.to_batch()) == 20


def test_public_names_are_sorted() -> None:
    assert reelforge.campaign.__all__ == sorted(reelforge.campaign.__all__)
    for name in reelforge.campaign.__all__:
        assert hasattr(reelforge.campaign, name)
