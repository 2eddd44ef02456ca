"""Valid batches: the four formats agree; defaults, keys, labels and sizes are filled in."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelforge.batch import Batch, BatchFileError, BatchJob, load_batch, parse_batch
from reelforge.core.models import JobSpec

VALID = Path(__file__).parent / "valid"
FORMATS = ("yaml", "json", "jsonl", "csv")


@pytest.fixture(scope="module")
def reference() -> Batch:
    return Batch(
        name="spring",
        jobs=(
            BatchJob(
                key="kite-01",
                index=0,
                spec=JobSpec(
                    prompt="A red kite over desert dunes at dawn",
                    seconds=8,
                    size="1280x720",
                    labels={"brand": "acme", "wave": "2"},
                ),
            ),
            BatchJob(
                key="0002",
                index=1,
                spec=JobSpec(
                    prompt="A paper boat on a rainy street, close up",
                    size="720x1280",
                    input_reference=(VALID / "kite.png").resolve(),
                ),
            ),
            BatchJob(
                key="0003",
                index=2,
                spec=JobSpec(
                    prompt="Slow pan across a neon-lit noodle bar",
                    model="sora-2-pro",
                    seconds=12,
                    size="1792x1024",
                    labels={"brand": "acme"},
                ),
            ),
        ),
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_gives_the_same_batch(fmt: str, reference: Batch) -> None:
    batch = load_batch(VALID / f"spring.{fmt}")

    assert batch == reference
    assert batch.source == VALID / f"spring.{fmt}"
    assert len(batch) == 3
    assert [job.key for job in batch] == ["kite-01", "0002", "0003"]


@pytest.mark.parametrize(
    ("fmt", "locations"),
    [
        ("yaml", ["spring.yaml:5", "spring.yaml:9", "spring.yaml:12"]),
        ("json", ["spring.json:jobs[0]", "spring.json:jobs[1]", "spring.json:jobs[2]"]),
        ("jsonl", ["spring.jsonl:1", "spring.jsonl:3", "spring.jsonl:4"]),
        ("csv", ["spring.csv:row 2", "spring.csv:row 3", "spring.csv:row 4"]),
    ],
)
def test_each_job_knows_where_it_was_written(fmt: str, locations: list[str]) -> None:
    batch = load_batch(VALID / f"spring.{fmt}")

    assert [job.location for job in batch] == [f"{VALID}/{loc}" for loc in locations]


def test_defaults_fill_what_a_job_leaves_out_and_labels_merge() -> None:
    batch = parse_batch(
        "defaults:\n"
        "  model: sora-2-pro\n"
        "  seconds: 8\n"
        "  size: 16:9\n"
        "  labels: {brand: acme, wave: 1}\n"
        "jobs:\n"
        "  - prompt: one\n"
        "  - prompt: two\n"
        "    seconds: 12\n"
        "    size: 1024x1792\n"
        "    labels: {wave: 2, cut: short}\n",
        format="yaml",
        name="merge",
    )

    one, two = (job.spec for job in batch)
    assert (one.model, one.seconds, one.size, dict(one.labels)) == (
        "sora-2-pro",
        8,
        "1280x720",
        {"brand": "acme", "wave": "1"},
    )
    assert (two.model, two.seconds, two.size, dict(two.labels)) == (
        "sora-2-pro",
        12,
        "1024x1792",
        {"brand": "acme", "wave": "2", "cut": "short"},
    )


def test_without_defaults_a_job_takes_the_model_s_defaults() -> None:
    batch = parse_batch('{"prompt": "A red kite"}\n', format="jsonl", name="bare")

    assert batch.jobs[0].spec == JobSpec(
        prompt="A red kite", provider="openai", model="sora-2", seconds=4, size="720x1280"
    )


def test_keys_default_to_the_1_based_position_and_mix_with_given_keys() -> None:
    batch = parse_batch(
        "prompt,key\na,\nb,boat\nc,\n" + "".join(f"p{n},\n" for n in range(9_997)),
        format="csv",
        name="many",
    )

    keys = [job.key for job in batch]
    assert keys[:4] == ["0001", "boat", "0003", "0004"]
    assert keys[-1] == "10000"
    assert [job.index for job in batch][:3] == [0, 1, 2]


@pytest.mark.parametrize(
    ("size", "model", "resolved"),
    [
        ("16:9", "sora-2", "1280x720"),
        ("9:16", "sora-2", "720x1280"),
        ("16:9", "sora-2-pro", "1280x720"),
        ("1792x1024", "sora-2-pro", "1792x1024"),
        ("16:9", "veo-3.1", "1280x720"),
        ("1920x1080", "veo-3.1", "1920x1080"),
    ],
)
def test_aspect_ratios_map_to_sizes(size: str, model: str, resolved: str) -> None:
    batch = parse_batch(
        f"jobs:\n  - {{prompt: p, model: {model}, size: {size}}}\n", format="yaml", name="ar"
    )

    assert batch.jobs[0].spec.size == resolved


def test_yaml_reads_scalars_as_yaml_1_2_does() -> None:
    # PyYAML's YAML 1.1 would read 16:9 as 969, 0010 as 8, yes as true and a date as a date.
    batch = parse_batch(
        "jobs:\n"
        "  - prompt: p\n"
        "    key: k-0010\n"
        "    size: 16:9\n"
        "    seconds: 0008\n"
        "    labels: {approved: yes, launch: 2026-03-01, wave: 0010, ratio: 1.50}\n",
        format="yaml",
        name="scalars",
    )

    spec = batch.jobs[0].spec
    assert (spec.size, spec.seconds) == ("1280x720", 8)
    assert dict(spec.labels) == {
        "approved": "yes",
        "launch": "2026-03-01",
        "wave": "10",
        "ratio": "1.5",
    }


def test_yaml_anchors_and_merge_keys_work() -> None:
    batch = parse_batch(
        "defaults: &common {model: sora-2-pro, seconds: 8}\n"
        "jobs:\n"
        "  - {<<: *common, prompt: one, seconds: 12}\n"
        "  - {<<: *common, prompt: two}\n",
        format="yaml",
        name="anchors",
    )

    assert [(j.spec.model, j.spec.seconds) for j in batch] == [
        ("sora-2-pro", 12),
        ("sora-2-pro", 8),
    ]


def test_seconds_accepts_digit_strings_and_label_numbers_become_text() -> None:
    batch = parse_batch(
        '{"jobs": [{"prompt": "p", "seconds": " 8 ", "labels": {"n": 3, "f": 2.5}}]}',
        format="json",
        name="coerce",
    )

    assert batch.jobs[0].spec.seconds == 8
    assert dict(batch.jobs[0].spec.labels) == {"n": "3", "f": "2.5"}


def test_unknown_gateway_models_pass_through_with_structural_checks_only() -> None:
    batch = parse_batch(
        "jobs:\n  - {prompt: p, model: kling-2.1, seconds: 10, size: 1080x1920}\n",
        format="yaml",
        name="gateway",
    )

    assert (batch.jobs[0].spec.seconds, batch.jobs[0].spec.size) == (10, "1080x1920")


def test_the_batch_is_named_by_the_file_or_its_stem(tmp_path: Path) -> None:
    named = tmp_path / "whatever.yaml"
    named.write_text("batch: spring-launch\njobs: [{prompt: p}]\n", encoding="utf-8")
    unnamed = tmp_path / "Spring Launch (v2).jsonl"
    unnamed.write_text('{"prompt": "p"}\n', encoding="utf-8")

    assert load_batch(named).name == "spring-launch"
    assert load_batch(unnamed).name == "Spring-Launch-v2"


def test_input_reference_is_relative_to_the_batch_file(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    frame = tmp_path / "frames" / "first.png"
    frame.write_bytes(b"\x89PNG")
    (tmp_path / "batches").mkdir()
    path = tmp_path / "batches" / "b.yaml"
    path.write_text("jobs:\n  - {prompt: p, input_reference: ../frames/first.png}\n", "utf-8")

    assert load_batch(path).jobs[0].spec.input_reference == frame.resolve()


def test_parse_batch_resolves_references_against_base_dir(tmp_path: Path) -> None:
    (tmp_path / "f.png").write_bytes(b"\x89PNG")

    batch = parse_batch(
        '{"prompt": "p", "input_reference": "f.png"}', format="jsonl", name="b", base_dir=tmp_path
    )

    assert batch.jobs[0].spec.input_reference == (tmp_path / "f.png").resolve()


def test_crlf_line_endings_and_a_byte_order_mark_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "windows.yaml"
    path.write_bytes(b"\xef\xbb\xbfjobs:\r\n  - prompt: p\r\n    seconds: 8\r\n")

    assert load_batch(path).jobs[0].spec.seconds == 8


def test_jsonl_lines_are_split_on_newlines_only() -> None:
    # U+2028 is legal inside a JSON string; str.splitlines() would cut the line there.
    batch = parse_batch('{"prompt": "a\u2028b"}\n', format="jsonl", name="sep")

    assert batch.jobs[0].spec.prompt == "a\u2028b"


def test_from_specs_takes_prompts_specs_and_keyed_mappings() -> None:
    spec = JobSpec(prompt="A red kite", size="16:9", seconds=8)

    listed = Batch.from_specs("lib", ["A paper boat", spec])
    keyed = Batch.from_specs("lib", {"boat": "A paper boat", "kite": spec})

    assert [(j.key, j.spec.size) for j in listed] == [("0001", "720x1280"), ("0002", "1280x720")]
    assert [j.key for j in keyed] == ["boat", "kite"]
    assert listed.source is None


def test_from_specs_reports_every_problem() -> None:
    with pytest.raises(BatchFileError) as info:
        Batch.from_specs(
            "lib",
            {
                "ok": "fine",
                "../bad": "x",
                "secs": JobSpec(prompt="p", seconds=10),
                "OK": "clash",
            },
        )

    assert [(i.field, i.pointer) for i in info.value.errors] == [
        ("key", "jobs[1].key"),
        ("seconds", "jobs[2].seconds"),
        ("key", "jobs[3].key"),
    ]
    assert str(info.value).startswith("<specs>: jobs[1].key: '../bad' is not a safe folder name")


def test_from_specs_refuses_an_empty_batch_and_a_bad_name() -> None:
    with pytest.raises(BatchFileError) as info:
        Batch.from_specs("a--b", [])

    assert [i.field for i in info.value.errors] == ["batch", "jobs"]


def test_parse_batch_refuses_an_unknown_format_and_an_unsafe_name() -> None:
    with pytest.raises(BatchFileError) as info:
        parse_batch("", format="toml", name="x")
    assert info.value.field == "format"
    assert info.value.allowed == ("csv", "json", "jsonl", "yaml")

    with pytest.raises(BatchFileError) as info:
        parse_batch("jobs: []", format="yaml", name="../x")
    assert info.value.field == "batch"


def test_batches_are_frozen_and_hashable() -> None:
    batch = Batch.from_specs("lib", ["p"])

    with pytest.raises(AttributeError):
        batch.name = "other"  # type: ignore[misc]
    assert hash(batch) == hash(Batch.from_specs("lib", ["p"]))


def test_from_specs_checks_labels_and_key_types() -> None:
    with pytest.raises(BatchFileError) as info:
        Batch.from_specs(
            "lib",
            {"a": JobSpec(prompt="p", labels={"n": 3}), 5: "p"},  # type: ignore[dict-item]
        )

    assert [(i.field, i.pointer) for i in info.value.errors] == [
        ("labels.n", "jobs[0].labels.n"),
        ("key", "jobs[1].key"),
    ]
