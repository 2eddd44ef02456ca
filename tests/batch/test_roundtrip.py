"""Random valid batches written as YAML, JSON, JSONL and CSV read back as the same jobs."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reelforge.batch import Batch, BatchJob, parse_batch
from reelforge.core.capabilities import ASPECT_RATIOS, capabilities_for, resolve_size
from reelforge.core.models import JobSpec

MODELS = ("sora-2", "sora-2-pro")
LABEL_NAMES = st.from_regex(r"\A[a-z][a-z0-9_]{0,11}\Z")
TEXT = st.text(st.characters(codec="utf-8"), max_size=120)
REFUSED_IN_PROMPTS = "".join(
    chr(code)
    for code in (*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    if chr(code) not in "\t\n\r"
)
PROMPT = st.text(st.characters(codec="utf-8", exclude_characters=REFUSED_IN_PROMPTS), max_size=120)


@st.composite
def jobs(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(MODELS))
    caps = capabilities_for(model)
    job: dict[str, Any] = {
        "prompt": draw(PROMPT.filter(str.strip)),
        "model": model,
        "seconds": draw(st.sampled_from(caps.seconds)),
        "size": draw(st.sampled_from((*caps.sizes, *ASPECT_RATIOS))),
    }
    if draw(st.booleans()):
        job["provider"] = "openai"
    labels = draw(st.dictionaries(LABEL_NAMES, TEXT.filter(bool), max_size=3))
    if labels:
        job["labels"] = labels
    return job


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    entries = draw(st.lists(jobs(), min_size=1, max_size=6))
    keys = draw(
        st.lists(
            st.from_regex(r"\Ak-[a-z0-9][a-z0-9._-]{0,20}\Z").filter(lambda k: ".." not in k),
            min_size=len(entries),
            max_size=len(entries),
            unique_by=str.casefold,
        )
    )
    for entry, key, keep in zip(
        entries, keys, draw(st.lists(st.booleans(), min_size=6)), strict=False
    ):
        if keep and not key.endswith("."):
            entry["key"] = key
    return entries


def expected(entries: list[dict[str, Any]]) -> Batch:
    return Batch(
        name="random",
        jobs=tuple(
            BatchJob(
                key=entry.get("key", f"{index + 1:04d}"),
                index=index,
                spec=JobSpec(
                    prompt=entry["prompt"],
                    model=entry["model"],
                    seconds=entry["seconds"],
                    size=resolve_size(entry["model"], entry["size"]),
                    labels=entry.get("labels", {}),
                ),
            )
            for index, entry in enumerate(entries)
        ),
    )


def to_csv(entries: list[dict[str, Any]]) -> str:
    names = sorted({name for entry in entries for name in entry.get("labels", {})})
    columns = ["prompt", "key", "provider", "model", "seconds", "size"]
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([*columns, *(f"label.{name}" for name in names)])
    for entry in entries:
        labels = entry.get("labels", {})
        writer.writerow(
            [
                *(entry.get(column, "") for column in columns),
                *(labels.get(name, "") for name in names),
            ]
        )
    return out.getvalue()


def dumps(entries: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "yaml":
        # Escaped, because YAML 1.1 (PyYAML) reads a raw NEL, U+2028 or U+2029 as a line break.
        return yaml.safe_dump({"batch": "random", "jobs": entries}, allow_unicode=False)
    if fmt == "json":
        return json.dumps({"jobs": entries}, ensure_ascii=False, indent=1)
    if fmt == "jsonl":
        return "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
    return to_csv(entries)


@settings(max_examples=150, deadline=None)
@given(batches(), st.sampled_from(("yaml", "json", "jsonl", "csv")))
def test_a_dumped_batch_loads_back_the_same(entries: list[dict[str, Any]], fmt: str) -> None:
    text = dumps(entries, fmt)

    assert parse_batch(text, format=fmt, name="random") == expected(entries)
