"""Malformed batch files: each is refused with the exact field, location and allowed values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from reelforge.batch import (
    DEFAULT_MAX_BYTES,
    SAFE_NAME_PATTERN,
    BatchFileError,
    load_batch,
    parse_batch,
)
from reelforge.core.errors import InvalidSpecError

CORPUS = Path(__file__).parent / "corpus"
NEUTRAL = ("aspect_ratio", "resolution", "audio", "image", "end_image", "negative_prompt", "seed")
JOB_FIELDS = (
    "prompt",
    "key",
    "provider",
    "model",
    "seconds",
    "size",
    *NEUTRAL,
    "input_reference",
    "params",
    "labels",
)
CSV_COLUMNS = (
    "prompt",
    "key",
    "provider",
    "model",
    "seconds",
    "size",
    *NEUTRAL,
    "input_reference",
    "params",
    "label.<name>",
)
SORA_2_SECONDS = ("4", "8", "12")
SORA_2_SIZES = ("720x1280", "1280x720")


def load_error(path: Path, **kwargs: int) -> BatchFileError:
    with pytest.raises(BatchFileError) as info:
        load_batch(path, **kwargs)
    return info.value


@dataclass(frozen=True)
class Case:
    file: str
    field: str
    pointer: str
    text: str
    line: int | None = None
    row: int | None = None
    allowed: tuple[str, ...] | None = None

    @property
    def location(self) -> str:
        path = CORPUS / self.file
        if self.line is not None:
            return f"{path}:{self.line}"
        if self.row is not None:
            return f"{path}:row {self.row}"
        return str(path)


CASES = [
    Case("bad_syntax.yaml", "syntax", "", "while scanning a quoted scalar on line 3", line=6),
    Case("bad_syntax.json", "syntax", "", "Expecting property name", line=3),
    Case("bad_line.jsonl", "syntax", "jobs[1]", "invalid JSON", line=2),
    Case(
        "unknown_field.yaml",
        "colour",
        "jobs[1].colour",
        "unknown field 'colour'; known fields: prompt, key, provider",
        line=4,
        allowed=JOB_FIELDS,
    ),
    Case(
        "unknown_field.jsonl",
        "duration",
        "jobs[1].duration",
        "unknown field 'duration'",
        line=2,
        allowed=JOB_FIELDS,
    ),
    Case(
        "wrong_type.yaml",
        "seconds",
        "jobs[0].seconds",
        "must be a whole number of seconds, got string 'eight'",
        line=3,
    ),
    Case("float_seconds.json", "seconds", "jobs[1].seconds", "got number 8.5"),
    Case("bool_seconds.yaml", "seconds", "jobs[0].seconds", "got boolean true", line=3),
    Case("prompt_not_string.yaml", "prompt", "jobs[0].prompt", "must be a string", line=2),
    Case(
        "duplicate_yaml_key.yaml",
        "seconds",
        "jobs[0].seconds",
        "duplicate key 'seconds'; first set on line 4",
        line=6,
    ),
    Case("duplicate_json_key.json", "size", "jobs[0].size", "duplicate key 'size'"),
    Case(
        "duplicate_job_key.yaml",
        "key",
        "jobs[2].key",
        f"duplicate key 'kite'; already used at {CORPUS / 'duplicate_job_key.yaml'}:2",
        line=7,
    ),
    Case(
        "duplicate_job_key_case.csv",
        "key",
        "key",
        "same folder as 'Kite': keys ignore case",
        row=3,
    ),
    Case("default_key_clash.yaml", "key", "jobs[1]", "duplicate key '0002'", line=4),
    Case("empty_prompt.yaml", "prompt", "jobs[1].prompt", "must not be empty", line=3),
    Case("missing_prompt.json", "prompt", "jobs[0].prompt", "is required"),
    Case(
        "bad_aspect.yaml",
        "size",
        "jobs[0].size",
        "'1:1' is not supported by sora-2; allowed: 9:16, 16:9, 720x1280, 1280x720",
        line=4,
        allowed=("9:16", "16:9", *SORA_2_SIZES),
    ),
    Case(
        "pro_size_on_sora2.yaml",
        "size",
        "jobs[0].size",
        "1792x1024 is not supported by sora-2; allowed: 720x1280, 1280x720"
        " (1792x1024 needs sora-2-pro)",
        line=5,
        allowed=SORA_2_SIZES,
    ),
    Case(
        "bad_seconds.yaml",
        "seconds",
        "jobs[1].seconds",
        "10 is not supported by sora-2; allowed: 4, 8, 12",
        line=7,
        allowed=SORA_2_SECONDS,
    ),
    Case(
        "bad_default_seconds.yaml",
        "seconds",
        "defaults.seconds",
        "10 is not supported by sora-2; allowed: 4, 8, 12",
        line=3,
        allowed=SORA_2_SECONDS,
    ),
    Case(
        "bad_seconds.csv",
        "seconds",
        "seconds",
        "7 is not supported by sora-2; allowed: 4, 8, 12",
        row=3,
        allowed=SORA_2_SECONDS,
    ),
    Case(
        "missing_column.csv",
        "header",
        "",
        "unknown column 'text'; known columns: prompt, key",
        row=1,
        allowed=CSV_COLUMNS,
    ),
    Case(
        "unknown_column.csv",
        "header",
        "",
        "unknown column 'colour'; known columns: prompt, key",
        row=1,
        allowed=CSV_COLUMNS,
    ),
    Case("ragged_row.csv", "columns", "", "has 4 cells; the header has 3 columns", row=3),
    Case("empty_jobs.yaml", "jobs", "jobs", "the batch has no jobs", line=2),
    Case("empty_jobs.csv", "jobs", "jobs", "the batch has no jobs"),
    Case("empty_file.yaml", "jobs", "", "the file is empty"),
    Case("not_a_mapping.yaml", "jobs", "", "must be a mapping with a 'jobs' list, got a list"),
    Case(
        "unknown_top_field.yaml",
        "job",
        "job",
        "unknown field 'job'; known fields: batch, defaults, jobs",
        line=2,
        allowed=("batch", "defaults", "jobs"),
    ),
    Case(
        "path_like_key.yaml",
        "key",
        "jobs[0].key",
        "'../../etc/passwd' is not a safe folder name; allowed: [A-Za-z0-9][A-Za-z0-9._-]{0,63}",
        line=3,
        allowed=(SAFE_NAME_PATTERN,),
    ),
    Case(
        "bad_batch_name.yaml",
        "batch",
        "batch",
        "'spring/launch' is not a safe folder name",
        line=1,
        allowed=(SAFE_NAME_PATTERN,),
    ),
    Case(
        "nested_label.yaml",
        "labels.audience",
        "jobs[0].labels.audience",
        "must be text or a number, got a mapping",
        line=5,
    ),
    Case(
        "missing_reference.yaml",
        "input_reference",
        "jobs[0].input_reference",
        f"'frames/first.png' does not exist or is not a file"
        f" (looked for {CORPUS}/frames/first.png)",
        line=3,
    ),
    Case(
        "non_utf8.yaml",
        "encoding",
        "",
        "not UTF-8: byte 0xe8 cannot be decoded",
        line=3,
        allowed=("UTF-8",),
    ),
    Case(
        "batch.txt",
        "extension",
        "",
        "unknown extension '.txt'; allowed: .csv, .json, .jsonl, .yaml, .yml",
        allowed=(".csv", ".json", ".jsonl", ".yaml", ".yml"),
    ),
]


def test_every_corpus_file_has_a_case() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(case.file for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.file for case in CASES])
def test_malformed_file_is_refused_with_field_location_and_allowed_values(case: Case) -> None:
    error = load_error(CORPUS / case.file)

    matching = [issue for issue in error.errors if issue.field == case.field]
    assert matching, [str(issue) for issue in error.errors]
    issue = matching[0]
    assert issue.pointer == case.pointer
    assert issue.line == case.line
    assert issue.row == case.row
    assert issue.location == case.location
    assert issue.path == CORPUS / case.file
    assert case.text in issue.message
    assert issue.allowed == case.allowed
    for value in case.allowed or ():
        assert value in issue.message
    prefix = f"{case.location}: {case.pointer}: " if case.pointer else f"{case.location}: "
    assert str(issue) == prefix + issue.message
    assert str(issue) in str(error)


@pytest.mark.parametrize("case", CASES[:3], ids=[case.file for case in CASES[:3]])
def test_the_first_problem_is_the_error_s_own_fields(case: Case) -> None:
    error = load_error(CORPUS / case.file)

    assert isinstance(error, InvalidSpecError)
    first = error.errors[0]
    assert (error.field, error.line, error.row, error.path) == (
        first.field,
        first.line,
        first.row,
        first.path,
    )
    assert str(error).startswith(str(first))


def test_a_prompt_of_40000_characters_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(
        f"jobs:\n  - prompt: ok\n  - prompt: {'a' * 40_000}\n    seconds: 8\n", encoding="utf-8"
    )

    error = load_error(path)

    assert [(i.field, i.line, i.pointer) for i in error.errors] == [
        (
            "prompt",
            3,
            "jobs[1].prompt",
        )
    ]
    assert error.errors[0].message == "is 40000 characters; at most 32000 allowed"


def test_a_50_mb_file_is_refused_by_its_size_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: all NUL bytes, which no parser accepts

    error = load_error(path)

    assert error.field == "file_size"
    assert error.value == 50 * 1024 * 1024
    assert str(error) == (
        f"{path}: is 52,428,800 bytes; the cap is 20,971,520 bytes (20 MiB); "
        "raise it with max_bytes"
    )


def test_the_size_cap_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text("jobs:\n  - prompt: A red kite over dunes\n", encoding="utf-8")

    assert len(load_batch(path, max_bytes=len(path.read_bytes())).jobs) == 1
    error = load_error(path, max_bytes=10)
    assert error.field == "file_size"
    assert "the cap is 10 bytes" in str(error)
    assert DEFAULT_MAX_BYTES == 20 * 1024 * 1024


def test_the_size_cap_applies_to_text_too() -> None:
    with pytest.raises(BatchFileError) as info:
        parse_batch("jobs: []\n", format="yaml", name="x", max_bytes=4)
    assert info.value.field == "file_size"


def test_a_missing_file_and_a_directory_are_refused(tmp_path: Path) -> None:
    assert load_error(tmp_path / "nope.yaml").errors[0].message == "no such file"
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    assert load_error(folder).field == "file"


def test_every_problem_in_a_file_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "jobs:\n"
        "  - prompt: ''\n"  # 2
        "    key: ../x\n"  # 3
        "    colour: red\n"  # 4
        "  - prompt: A paper boat\n"  # 5
        "    seconds: 10\n"  # 6
        "    size: 1:1\n",  # 7
        encoding="utf-8",
    )

    error = load_error(path)

    assert [(i.line, i.field) for i in error.errors] == [
        (2, "prompt"),
        (3, "key"),
        (4, "colour"),
        (6, "seconds"),
        (7, "size"),
    ]
    assert str(error).splitlines()[-1] == "(5 errors in all)"


def test_the_message_shows_the_first_ten_and_a_count(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text(
        "\n".join(json.dumps({"prompt": f"p{n}", "seconds": 5}) for n in range(25)),
        encoding="utf-8",
    )

    error = load_error(path)

    lines = str(error).splitlines()
    assert len(error.errors) == 25
    assert len(lines) == 11
    assert lines[0] == f"{path}:1: jobs[0].seconds: 5 is not supported by sora-2; allowed: 4, 8, 12"
    assert lines[-1] == "… and 15 more (25 errors in all)"


def test_a_bad_default_is_reported_once_not_once_per_job() -> None:
    error = load_error(CORPUS / "bad_default_seconds.yaml")

    assert [(i.line, i.pointer) for i in error.errors] == [(3, "defaults.seconds")]


def test_a_defaults_shape_error_is_located() -> None:
    with pytest.raises(BatchFileError) as info:
        parse_batch(
            "defaults:\n  model: sora-2\n  prompt: no\njobs:\n  - prompt: ok\n",
            format="yaml",
            name="x",
        )
    issue = info.value.errors[0]
    assert (issue.field, issue.pointer, issue.line) == ("prompt", "defaults.prompt", 3)
    assert issue.allowed == JOB_FIELDS[2:]


def test_a_folder_named_like_a_batch_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "folder.yaml"
    path.mkdir()
    assert load_error(path).errors[0].message == "is a directory, not a batch file"
