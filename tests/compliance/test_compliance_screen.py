"""The screened check (rules ruled out before their patterns run) finds exactly what running
every rule in full finds, on prompts built like a campaign's: template text and dimension
values side by side, banned phrases split across a value and its neighbour."""

from __future__ import annotations

import random

import pytest

from reelforge.compliance import BrandRules, Rule, RulePack, Severity, Verdict, check
from reelforge.compliance import _check as check_module
from reelforge.core.models import JobSpec

_BRAND = BrandRules(
    banned_words=["cheap", "diet"],
    required_phrases=["Acme", "keeps up"],
    competitors=["Fizzco", "Bubble Corp"],
)

# Pieces of banned, required and innocent phrases; several are halves of one phrase, so a
# phrase only appears when two pieces (a value and the template text or the next value)
# meet: "cured" + "my skin", "Mickey" + "Mouse", "Coca-" + "Cola", "100" + "% natural".
_PIECES = [
    "cured",
    "my skin",
    "cured ham",
    "Mickey",
    "Mouse",
    "Coca-",
    "Cola",
    "cl1nically",
    "proven",
    "100",
    "% natural",
    "kid",
    "with a beer",
    "Tay",
    "lor Swift",
    "guarantee",
    "d results",
    "risk",
    "-free",
    "#",
    "1",
    "c u r e s",
    "Fizz",
    "co",
    "Bubble",
    "Corp",
    "che",
    "ap",
    "di",
    "et",
    "Ac",
    "me",
    "keeps",
    "up",
    "secure",
    "Scarface",
    "spring morning",
    "a can opened",
    "free",
    "sp1derman",
    "Sup3r",
    "Mario",
    "\u0441ur\u0435",
    "n0",
    "side effects",
    "LO-FI",
    "minimal",
    "it's ex",
    "best",
    "ever",
    "world's",
]
_GLUE = ["", " ", "  ", "-", ".", ", ", "_", "/", " & "]


def _prompts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    prompts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 7)):
            parts.append(rng.choice(_PIECES))
            parts.append(rng.choice(_GLUE))
        prompts.append("".join(parts).strip() or "x")
    return prompts


def _campaign_prompts() -> list[str]:
    """A template around two dimensions whose values end and start halves of phrases."""
    first = ["cured", "Mickey", "Coca-", "100", "kid", "Tay", "guarantee", "di", "calm"]
    second = ["my skin", "Mouse", "Cola", "% natural", "with a beer", "lor Swift", "d results"]
    second += ["et soda", "breeze"]
    template = "A {a} {b} ad for Acme: it keeps up"
    glued = "A {a}{b} ad for Acme"
    return [t.format(a=a, b=b) for t in (template, glued) for a in first for b in second]


def _same(prompt: str, **kwargs: object) -> None:
    fast = check(prompt, **kwargs)  # type: ignore[arg-type]
    full = check_module._check(
        prompt,
        kwargs.get("spec"),  # type: ignore[arg-type]
        kwargs.get("packs"),  # type: ignore[arg-type]
        kwargs.get("brand_rules"),  # type: ignore[arg-type]
        screened=False,
    )
    assert fast == full, prompt


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_screened_check_finds_what_the_full_check_finds(seed: int) -> None:
    prompts = _prompts(700, seed)
    verdicts = set()
    fired = set()
    for prompt in prompts:
        _same(prompt, brand_rules=_BRAND)
        _same(prompt)
        result = check(prompt)
        verdicts.add(result.verdict)
        fired.update(f.rule_id for f in result.findings)
    # The prompts exercise the rules: every verdict, and many different rules fire.
    assert verdicts == set(Verdict)
    assert len(fired) >= 7, fired


def test_phrases_formed_across_a_value_boundary_are_found() -> None:
    spec = JobSpec(prompt="x", provider="openai", model="sora-2", seconds=4, size="1280x720")
    rejected = 0
    for prompt in _campaign_prompts():
        _same(prompt, brand_rules=_BRAND, spec=spec)
        rejected += not check(prompt, brand_rules=_BRAND).ok
    # The phrase is whole only across the boundary: "cured my", "Mickey Mouse", "Coca-Cola"...
    assert not check("A cured ad").errors
    result = check("A cured my skin ad for Acme: it keeps up", brand_rules=_BRAND)
    assert [f.rule_id for f in result.errors] == ["claims.cures"]
    glued = check("A Mickey" + "Mouse ad for Acme: it keeps up", brand_rules=_BRAND)
    assert [f.text for f in glued.errors] == ["MickeyMouse"]
    assert rejected > len(_campaign_prompts()) // 3


def test_regex_rules_and_empty_keys_are_exact() -> None:
    # A rule with regexes only, one with a one-letter word whose forms share no letters ("e":
    # "e", "ed"... and "ing"), and a required rule.
    pack = RulePack(
        name="odd",
        rules=(
            Rule(id="r.regex", severity=Severity.ERROR, message="m", regexes=(r"a+\s*b",)),
            Rule(id="r.e", severity=Severity.WARNING, message="m", patterns=("e",)),
            Rule(id="r.need", severity=Severity.ERROR, message="m", patterns=("spring",)),
            Rule(id="r.empty", severity=Severity.WARNING, message="m", regexes=(r"x*",)),
        ),
    )
    for prompt in ["aa b", "ing", "an e here", "spring", "spr1ng e", "zzz", *_prompts(200, 9)]:
        _same(prompt, packs=[pack])


def test_a_clean_prompt_runs_no_rule_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = check_module._run_rule

    def counted(rule: Rule, *args: object) -> object:
        calls.append(rule.id)
        return real(rule, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(check_module, "_run_rule", counted)
    result = check("A Acme d1v003 d2v045 ad: a can opened on a bright spring morning.")
    assert result.verdict is Verdict.CLEAN
    assert calls == []
    check("Mickey Mouse drinks a can")
    assert calls == ["policy.copyrighted-character"]
