"""Control, bidirectional-override and surrogate characters are refused in every prompt,
named with their position; tabs, line breaks and ordinary text in any script are not."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from reelforge.batch import Batch, BatchFileError, parse_batch
from reelforge.campaign import Campaign, CampaignError
from reelforge.compliance import check
from reelforge.core.capabilities import validate_spec
from reelforge.core.errors import InvalidSpecError
from reelforge.core.models import JobSpec
from reelforge.core.prompt_text import character_label, check_prompt_characters

RULE = "control and bidirectional-override characters are refused"

REFUSED = [
    ("\x00", "U+0000 (NULL)"),
    ("\x01", "U+0001 (START OF HEADING)"),
    ("\x0b", "U+000B (LINE TABULATION)"),
    ("\x1b", "U+001B (ESCAPE)"),
    ("\x7f", "U+007F (DELETE)"),
    ("\x85", "U+0085 (NEXT LINE)"),
    ("\x9b", "U+009B (CONTROL SEQUENCE INTRODUCER)"),
    ("\u202a", "U+202A (LEFT-TO-RIGHT EMBEDDING)"),
    ("\u202e", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("\u2066", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
    ("\u2069", "U+2069 (POP DIRECTIONAL ISOLATE)"),
    ("\ud800", "U+D800 (LONE SURROGATE)"),
    ("\udcff", "U+DCFF (LONE SURROGATE)"),
]

ALLOWED = [
    "a kite\tover dunes",
    "a kite\nover dunes\r\n",
    "שלום \u200fkite\u200e",  # right-to-left text with its marks
    "مرحبا بالعالم",
    "a kite \U0001f98b over dunes",
    "a\u2028b\u2029c",
    "café à l\u2019aube",
]


@pytest.mark.parametrize(("char", "label"), REFUSED)
def test_a_refused_character_is_named_with_its_position(char: str, label: str) -> None:
    prompt = f"A red kite{char} over dunes"

    with pytest.raises(InvalidSpecError) as caught:
        validate_spec(JobSpec(prompt=prompt))

    assert caught.value.message == (
        f"prompt: character {label} at position 11 is not allowed in a prompt ({RULE})"
    )
    assert caught.value.field == "prompt"
    assert caught.value.value == char


@pytest.mark.parametrize("prompt", ALLOWED)
def test_tabs_line_breaks_marks_and_any_script_are_allowed(prompt: str) -> None:
    assert validate_spec(JobSpec(prompt=prompt)).prompt == prompt


def test_the_first_refused_character_is_the_one_named() -> None:
    with pytest.raises(InvalidSpecError, match=r"U\+202E .* at position 1 "):
        check_prompt_characters("\u202eabc\x00")


def test_every_control_character_is_refused_and_named_by_its_unicode_alias() -> None:
    controls = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\t\n\r"]
    for char in controls:
        with pytest.raises(InvalidSpecError) as caught:
            check_prompt_characters(char)
        label = character_label(char)
        name = label.split(" (", 1)[1].rstrip(")")
        assert unicodedata.lookup(name) == char, label
        assert f"character {label} at position 1 " in caught.value.message


def test_every_bidirectional_control_is_refused() -> None:
    for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)):
        with pytest.raises(InvalidSpecError):
            check_prompt_characters(chr(code))


@pytest.mark.parametrize(
    ("fmt", "text", "where"),
    [
        ("yaml", 'jobs:\n  - prompt: ok\n  - prompt: "a kite\\u202e over dunes"\n', "<string>:3: "),
        ("json", '{"jobs": [{"prompt": "a kite\\u202e over dunes"}]}', "<string>: "),
        ("jsonl", '{"prompt": "fine"}\n{"prompt": "a kite\\u202e over dunes"}\n', "<string>:2: "),
        ("csv", 'prompt,seconds\nfine,4\n"a kite\u202e over dunes",4\n', "<string>:row 3: "),
    ],
)
def test_batch_files_name_the_line_or_row(fmt: str, text: str, where: str) -> None:
    with pytest.raises(BatchFileError) as caught:
        parse_batch(text, format=fmt, name="edge")

    [issue] = caught.value.errors
    assert issue.field == "prompt"
    pointer = "prompt" if fmt == "csv" else f"jobs[{0 if fmt == 'json' else 1}].prompt"
    assert str(caught.value) == (
        f"{where}{pointer}: character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 7 is not "
        f"allowed in a prompt ({RULE})"
    )


def test_a_batch_built_in_code_refuses_it() -> None:
    with pytest.raises(BatchFileError, match=r"U\+0000 \(NULL\) at position 2 "):
        Batch.from_specs("lib", [JobSpec(prompt="a\x00b")])


def test_a_campaign_whose_rendered_prompt_holds_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(
        "campaign: bidi\nbrand: Acme\nproduct_category: water\nbig_idea: Keep up\n"
        'dimensions:\n  mood: [calm, "lo\\u202efi"]\ntemplate: "A {{ mood }} ad for {{ brand }}"\n',
        encoding="utf-8",
    )

    with pytest.raises(CampaignError) as caught:
        Campaign.load(path).plan()

    assert "U+202E (RIGHT-TO-LEFT OVERRIDE) at position 5 is not allowed in a prompt" in str(
        caught.value
    )


def test_compliance_reports_it_as_a_structural_error() -> None:
    result = check("a kite\x1b[2J", packs=[], spec=JobSpec(prompt="a kite\x1b[2J"))

    assert [f.rule_id for f in result.errors] == ["structure.prompt"]
