"""The built-in packs, brand rules and structural checks, through :func:`check`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reelforge.compliance import BrandRules, Severity, Verdict, check, load_packs
from reelforge.core.capabilities import MAX_PROMPT_CHARS
from reelforge.core.models import JobSpec

CLEAN = "Cinematic product hero video ad for Acme sparkling water, sunrise light, slow dolly-in."


def test_builtin_packs_load() -> None:
    names = [pack.name for pack in load_packs()]
    assert names == ["content-policy", "advertising-claims"]
    assert all(pack.rules for pack in load_packs())


def test_a_clean_prompt_passes() -> None:
    result = check(CLEAN)
    assert result.ok
    assert result.verdict is Verdict.CLEAN
    assert result.findings == ()


@pytest.mark.parametrize(
    ("prompt", "rule_id"),
    [
        ("Taylor Swift sips the drink on stage", "policy.public-figure"),
        ("ELON MUSK opens a can", "policy.public-figure"),
        ("Mickey Mouse dances with the bottle", "policy.copyrighted-character"),
        ("Spider-Man swings past the billboard", "policy.copyrighted-character"),
        ("spiderman swings past", "policy.copyrighted-character"),
        ("a P1kachu plush on the table", "policy.copyrighted-character"),
        ("two Pok\u00e9mon cards", "policy.copyrighted-character"),
        ("next to a can of C\u043eca-C\u043ela", "policy.trademark"),
        ("a nude model by the pool", "policy.sexual"),
        ("an n.a.k.e.d model", "policy.sexual"),
        ("a toddler holding a beer", "policy.minors"),
        ("sexy schoolgirl outfit", "policy.minors"),
        ("gore and dismemberment in the kitchen", "policy.graphic-violence"),
        ("a d1smembered mannequin", "policy.graphic-violence"),
        ("a swastika banner", "policy.hate"),
    ],
)
def test_content_policy_errors(prompt: str, rule_id: str) -> None:
    result = check(prompt)
    assert rule_id in {f.rule_id for f in result.errors}
    assert not result.ok
    assert result.verdict is Verdict.REJECT


@pytest.mark.parametrize(
    "prompt",
    [
        "Mickey, a barista, pours a glass",  # a first name, not the character
        "a mouse runs across the kitchen",
        "children laughing in a sunny park",
        "a toddler with a teddy bear",
        "a skilled chef slices lemons",
        "Essex countryside at dawn",
        "scarlet sunset over the bay",
    ],
)
def test_content_policy_leaves_ordinary_prompts_alone(prompt: str) -> None:
    assert check(prompt).findings == ()


def test_weapons_are_a_warning_not_an_error() -> None:
    result = check("a water gun fight between friends")
    assert result.ok
    assert result.verdict is Verdict.WARN
    assert [f.rule_id for f in result.warnings] == ["policy.weapons-violence"]


@pytest.mark.parametrize(
    ("prompt", "rule_id"),
    [
        ("Acme water cures headaches", "claims.cures"),
        ("Acme water c.u.r.e.s headaches", "claims.cures"),
        ("Acme water c u r e s headaches", "claims.cures"),
        ("Acme water c\u00fcres headaches", "claims.cures"),
        ("Acme water \u0441ur\u0435s headaches", "claims.cures"),
        ("Acme water cur3s headaches", "claims.cures"),
        ("Acme water cured my headaches", "claims.cures"),
        ("it's a miracle cure", "claims.cures"),
        ("clinically proven hydration", "claims.clinically-proven"),
        ("Clinically-Proven hydration", "claims.clinically-proven"),
        ("guaranteed results in a week", "claims.guaranteed-results"),
        ("a risk-free trial", "claims.risk-free"),
        ("100% safe for everyone", "claims.risk-free"),
        ("the best in the world", "claims.superlative"),
        ("America's #1 sparkling water", "claims.superlative"),
        ("the number one choice", "claims.superlative"),
    ],
)
def test_advertising_claim_errors(prompt: str, rule_id: str) -> None:
    assert rule_id in {f.rule_id for f in check(prompt).errors}


@pytest.mark.parametrize(
    "prompt",
    [
        "a secure cap keeps it fresh",
        "cured salmon on a picnic table",  # food, not a health claim
        "proven in a thousand kitchens",  # no "proven to": a testimonial, not a proof claim
        "one of the best mornings",
        "serves 1 person, 100% recyclable can",
        "shot on sora-2 in 1280x720",
    ],
)
def test_advertising_claims_leave_ordinary_prompts_alone(prompt: str) -> None:
    assert {f.rule_id for f in check(prompt).errors} == set()


def test_guaranteed_delivery_window_is_only_a_warning() -> None:
    # Decision: a bare "guaranteed" may be a service term; only result guarantees block.
    result = check("guaranteed delivery window for every order")
    assert result.ok
    assert [f.rule_id for f in result.warnings] == ["claims.guarantee"]


def test_brand_banned_words_and_competitors_are_errors() -> None:
    rules = BrandRules(banned_words=["cheap", "diet"], competitors=["Fizzco"])
    result = check("a cheap d.i.e.t soda, better than FIZZCO", brand_rules=rules)
    assert {f.rule_id for f in result.errors} == {
        "brand.banned.cheap",
        "brand.banned.diet",
        "brand.competitor.fizzco",
    }
    assert all(f.pack == "brand" and f.severity is Severity.ERROR for f in result.errors)


def test_brand_rules_do_not_match_inside_words() -> None:
    rules = BrandRules(banned_words=["diet"], competitors=["Fizzco"])
    assert check("a dietary note from Fizzcorp", brand_rules=rules).findings == ()


def test_required_phrase_missing_and_present() -> None:
    rules = BrandRules(required_phrases=["Drink responsibly"])
    missing = check(CLEAN, brand_rules=rules)
    assert [(f.rule_id, f.text) for f in missing.errors] == [
        ("brand.required.drink-responsibly", None)
    ]
    assert check(f"{CLEAN} Drink responsibly.", brand_rules=rules).ok


def test_structural_prompt_too_long() -> None:
    result = check("a" * (MAX_PROMPT_CHARS + 1))
    assert [f.rule_id for f in result.errors] == ["structure.length"]


def test_structural_empty_prompt() -> None:
    assert [f.rule_id for f in check("   ").errors] == ["structure.empty"]


def test_structural_bad_size_reports_validate_spec_message() -> None:
    spec = JobSpec(prompt="ignored", model="sora-2", size="1792x1024", seconds=4)
    result = check(CLEAN, spec=spec)
    (finding,) = result.errors
    assert finding.rule_id == "structure.size"
    assert "1792x1024" in finding.message
    assert "sora-2-pro" in finding.message


def test_structural_long_prompt_and_bad_seconds_are_both_reported() -> None:
    spec = JobSpec(prompt="x", model="sora-2", seconds=5)
    result = check("a" * (MAX_PROMPT_CHARS + 1), spec=spec)
    assert [f.rule_id for f in result.errors] == ["structure.length", "structure.seconds"]


def test_a_valid_spec_adds_nothing() -> None:
    spec = JobSpec(prompt="x", model="sora-2", seconds=8, size="1280x720")
    assert check(CLEAN, spec=spec).findings == ()


def test_reasons_are_readable() -> None:
    (reason,) = check("it cures colds").reasons
    assert reason == "error: claims.cures: claims to cure or treat a condition ('cures' at 3)"


def test_brand_rules_that_differ_only_in_case_are_one_rule() -> None:
    pack = BrandRules(banned_words=["Diet", "diet"]).to_pack()
    assert [rule.id for rule in pack.rules] == ["brand.banned.diet"]


def test_brand_entries_without_letters_are_refused() -> None:
    with pytest.raises(ValidationError, match="no letters or digits"):
        BrandRules(banned_words=["!!"])


def test_brand_rules_refuse_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="banned_word"):
        BrandRules.model_validate({"banned_word": ["cheap"]})
