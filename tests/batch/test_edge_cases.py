"""Hostile and unusual input is refused with a located message, never a crash."""

from __future__ import annotations

import pytest

from reelforge.batch import BatchFileError, parse_batch


def issues(text: str, fmt: str) -> list[tuple[str, int | None, int | None, str, str]]:
    with pytest.raises(BatchFileError) as info:
        parse_batch(text, format=fmt, name="edge")
    return [(i.field, i.line, i.row, i.pointer, i.message) for i in info.value.errors]


@pytest.mark.parametrize(
    ("fmt", "text", "field", "line", "fragment"),
    [
        ("yaml", "jobs:\n  - prompt: a\n---\njobs: []\n", "syntax", 3, "single document"),
        ("yaml", "jobs:\n  - prompt: !!python/object:os.system a\n", "syntax", 2, "constructor"),
        ("yaml", "jobs:\n  - prompt: a\n\n  - prompt: b\x00\n", "syntax", 4, "U+0000"),
        ("yaml", "jobs: " + "[" * 5000 + "]" * 5000 + "\n", "syntax", None, "nested too deeply"),
        ("yaml", "jobs:\n  - {prompt: a, seconds: " + "9" * 5000 + "}\n", "syntax", None, "digits"),
        ("yaml", "? [a]\n: 1\njobs: []\n", "syntax", 1, "unhashable key"),
        ("json", '{"jobs": ' + "[" * 100_000 + "]" * 100_000 + "}", "syntax", None, "too deeply"),
        ("json", '{"jobs": [{"prompt": "a", "seconds": NaN}]}', "syntax", None, "NaN"),
        ("csv", 'prompt,seconds\na,4\n"b"c,4\n', "syntax", 3, "invalid CSV"),
    ],
)
def test_unparseable_text(fmt: str, text: str, field: str, line: int | None, fragment: str) -> None:
    [(got_field, got_line, _, _, message)] = issues(text, fmt)

    assert (got_field, got_line) == (field, line)
    assert fragment in message


def test_a_job_that_is_not_a_mapping() -> None:
    assert issues("jobs:\n  - just a prompt\n", "yaml") == [
        (
            "jobs",
            2,
            None,
            "jobs[0]",
            "must be a mapping with at least a 'prompt', got string 'just a prompt'",
        )
    ]


def test_jsonl_lines_that_are_not_objects() -> None:
    assert [(f, line, p) for f, line, _, p, _ in issues('[1]\n\n"x"\n', "jsonl")] == [
        ("jobs", 1, "jobs[0]"),
        ("jobs", 3, "jobs[1]"),
    ]


def test_empty_jsonl_and_empty_csv() -> None:
    assert issues("\n\n", "jsonl")[0][::4] == ("jobs", "the batch has no jobs")
    assert issues("", "csv")[0][0] == "header"


def test_csv_header_problems_are_all_reported_on_row_1() -> None:
    found = issues("prompt,prompt,label.,seconds\na,b,c,4\n", "csv")

    assert [(f, row, m) for f, _, row, _, m in found] == [
        ("header", 1, "duplicate column 'prompt'"),
        (
            "header",
            1,
            "unknown column 'label.'; known columns: prompt, key, provider, model, "
            "seconds, size, aspect_ratio, resolution, audio, image, end_image, negative_prompt, "
            "seed, input_reference, params, label.<name>",
        ),
    ]


def test_csv_cells_are_located_by_row_and_column() -> None:
    found = issues("prompt,key,seconds,label.brand\n a ,x y,-4,acme\n", "csv")

    assert [(f, row, p) for f, _, row, p, _ in found] == [
        ("seconds", 2, "seconds"),
        ("key", 2, "key"),
    ]


def test_label_problems_name_the_label() -> None:
    found = issues("jobs:\n  - prompt: a\n    labels: &l {x: *l, ok: 1, '': 2}\n", "yaml")

    assert [(f, p) for f, _, _, p, _ in found] == [
        ("labels.x", "jobs[0].labels.x"),
        ("labels.", "jobs[0].labels['']"),
    ]


def test_non_string_keys_are_refused_not_coerced() -> None:
    # Coercing would be lossy: YAML reads `key: 0010` as the number 10.
    assert issues("jobs:\n  - {prompt: a, key: 0010}\n", "yaml") == [
        ("key", 2, None, "jobs[0].key", "must be a string, got number 10")
    ]


def test_a_bad_model_does_not_cascade_into_size_errors() -> None:
    found = issues("jobs:\n  - prompt: a\n    model: ''\n    size: 1792x1024\n", "yaml")

    assert [(f, line) for f, line, *_ in found] == [("model", 3)]


def test_top_level_shape_errors() -> None:
    assert [(f, line) for f, line, *_ in issues("batch: 5\njobs: {prompt: a}\n", "yaml")] == [
        ("batch", 1),
        ("jobs", 2),
    ]
    assert issues("defaults: 5\njobs: [{prompt: a}]\n", "yaml")[0][:2] == ("defaults", 1)
    assert issues("batch: x\n", "yaml")[0][::4] == ("jobs", "'jobs' is required: a list of jobs")


def test_seconds_must_be_positive_even_for_unknown_models() -> None:
    found = issues("jobs:\n  - {prompt: a, model: veo-3.1, seconds: 0}\n", "yaml")

    assert found == [
        ("seconds", 2, None, "jobs[0].seconds", "must be a positive whole number, got 0")
    ]


def test_a_nul_byte_in_a_reference_is_reported_not_raised() -> None:
    found = issues('{"prompt": "a", "input_reference": "x\\u0000y"}\n', "jsonl")

    assert [(f, line) for f, line, *_ in found] == [("input_reference", 1)]
