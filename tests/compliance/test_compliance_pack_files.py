"""Rule pack files: validation errors are :class:`RulePackError` naming the source."""

from __future__ import annotations

import pytest

import reelforge.compliance
from reelforge.compliance import RulePack, RulePackError
from reelforge.core.errors import ReelforgeError


def test_a_valid_pack_parses() -> None:
    pack = RulePack.from_yaml(
        "name: mine\nrules:\n  - {id: a, severity: warning, message: m, patterns: [x]}\n"
    )
    assert pack.rules[0].id == "a"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- just a list", "must be a mapping"),
        ("name: p\nrules: []\nextra: 1\n", "extra"),
        ("name: p\nrules:\n  - {id: a, severity: fatal, message: m, patterns: [x]}\n", "severity"),
        ("name: p\nrules:\n  - {id: a, severity: error, message: m}\n", "no patterns"),
        ("name: p\nrules:\n  - {id: a, severity: error, message: m, regexes: ['(']}\n", "regex"),
        (
            "name: p\nrules:\n"
            "  - {id: a, severity: error, message: m, patterns: [x], color: red}\n",
            "color",
        ),
        (
            "name: p\nrules:\n"
            "  - {id: a, severity: error, message: m, patterns: [x]}\n"
            "  - {id: a, severity: error, message: m, patterns: [y]}\n",
            "duplicate rule id",
        ),
    ],
)
def test_invalid_packs_raise_rule_pack_error(text: str, problem: str) -> None:
    with pytest.raises(RulePackError, match=problem) as info:
        RulePack.from_yaml(text, source="mine.yaml")
    assert isinstance(info.value, ReelforgeError)
    assert info.value.source == "mine.yaml"
    assert str(info.value).startswith("mine.yaml: ")


def test_all_is_sorted() -> None:
    exported = reelforge.compliance.__all__
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), n))
    for name in exported:
        assert hasattr(reelforge.compliance, name)
