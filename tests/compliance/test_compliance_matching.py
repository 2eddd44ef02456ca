"""Normalization and the matcher: evasions are caught, ordinary words are not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelforge.compliance import BrandRules, Rule, RulePack, Severity, check, normalize


def _pack(*patterns: str, substring: bool = False, inflect: bool = True) -> RulePack:
    rule = Rule(
        id="t.rule",
        severity=Severity.ERROR,
        message="matched",
        patterns=patterns,
        substring=substring,
        inflect=inflect,
    )
    return RulePack(name="test", rules=(rule,))


def _hits(prompt: str, pack: RulePack) -> list[str]:
    return [f.text or "" for f in check(prompt, packs=[pack]).findings]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CURES", "cures"),
        ("c\u00fcres", "cures"),  # accent
        ("\u0441ur\u0435s", "cures"),  # Cyrillic es and ie
        ("\u03bfk", "ok"),  # Greek omicron
        ("\uff23\uff35\uff32\uff25\uff33", "cures"),  # full-width
        ("cur3s", "cures"),
        ("cl1n1cally pr0ven", "clinically proven"),
        ("r1$k-fr33", "risk-free"),
        ("#1 and 100% and sora-2 and 3D", "#1 and 100% and sora-2 and 3d"),
    ],
)
def test_normalize_folds_case_accents_lookalikes_and_leet(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "prompt",
    [
        "it cures everything",
        "it CURES everything",
        "it c.u.r.e.s everything",
        "it c u r e s everything",
        "it c. u. r. e. s. everything",
        "it cu-res everything",
        "it c\u00fcres everything",
        "it \u0441ur\u0435s everything",
        "it cur3s everything",
        "a cure",
        "it cured me",
        "curing",
    ],
)
def test_evasions_of_a_word_are_caught(prompt: str) -> None:
    assert len(_hits(prompt, _pack("cure"))) == 1


@pytest.mark.parametrize(
    "prompt",
    ["a secure home", "insecurity", "manicure set", "procured parts", "cu res", "curettage"],
)
def test_word_boundaries_guard_against_false_positives(prompt: str) -> None:
    assert _hits(prompt, _pack("cure")) == []


def test_fragments_are_not_joined_across_spaces() -> None:
    assert _hits("it's ex-rated", _pack("sex")) == []
    assert _hits("s e x", _pack("sex")) == ["s e x"]


def test_scarface_is_not_scar_unless_the_rule_asks_for_substrings() -> None:
    assert _hits("a Scarface poster", _pack("scar")) == []
    assert _hits("a Scarface poster", _pack("scar", substring=True)) == ["Scar"]


def test_inflection_can_be_turned_off() -> None:
    assert _hits("two scars", _pack("scar", inflect=False)) == []
    assert _hits("two scars", _pack("scar")) == ["scars"]


def test_phrases_allow_any_separator_between_words() -> None:
    pack = _pack("Coca-Cola")
    for prompt in ("Coca-Cola", "coca cola", "CocaCola", "C0ca-C0la", "C0ca-Co1a", "Coca-Colas"):
        assert len(_hits(prompt, pack)) == 1, prompt


def test_spans_point_into_the_original_prompt() -> None:
    prompt = "Drink \u0441ur\u0435s today"
    (finding,) = check(prompt, packs=[_pack("cure")]).findings
    assert (finding.start, finding.end, finding.text) == (6, 11, prompt[6:11])


def test_i_and_l_are_interchangeable() -> None:
    assert len(_hits("cIinically", _pack("clinically"))) == 1


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_normalization_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10)


@settings(max_examples=100, deadline=None)
@given(word=_WORD, separator=st.sampled_from([".", " ", "-", ". ", "*", "_"]), case=st.booleans())
def test_a_banned_word_spelled_out_is_still_caught(word: str, separator: str, case: bool) -> None:
    spelled = separator.join(word.upper() if case else word)
    result = check(f"[{spelled}]", packs=[], brand_rules=BrandRules(banned_words=[word]))
    assert [f.text for f in result.errors] == [spelled]
