"""Shared pieces of the Notion end-to-end tests: a 50-combination campaign, the fake's pages read
back as plain values, and the checks every run must pass."""

from __future__ import annotations

import textwrap
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState
from reelforge.fakenotion import EmbeddedFakeNotion
from reelforge.store import JobRow, Store

TOKEN = "secret_e2e-notion-token-0123456789"

# 5 aesthetics x 5 types x 2 genders = 50 combinations. The "testimonial" type makes a claim
# compliance rejects (10 jobs); the simulator refuses "noir" prompts on policy grounds (10 jobs,
# content_policy) and fails a seeded share of the rest (generation_failed).
CAMPAIGN = """\
campaign: notion-launch
brand: Acme
product_category: sparkling water
big_idea: Refreshment that keeps up with you
defaults: {provider: openai, model: sora-2, seconds: 4, size: 1280x720}
dimensions:
  aesthetic: [cinematic, lo-fi handheld, pastel minimal, noir, retro]
  type: [product hero, lifestyle, testimonial, unboxing, tutorial]
  gender: [female, male]
template: >
  {{ aesthetic }} {{ type }} video ad for {{ brand }} {{ product_category }}: {{ big_idea }}.
  A {{ gender }} opens a cold can.
  {% if type == "testimonial" %}They say: "Acme is clinically proven to boost energy."{% endif %}
"""

# Notion's names, as the issue lists them (the oracle; not imported from the code under test).
STATUS = {
    JobState.DONE: "Completed",
    JobState.FAILED: "Failed",
    JobState.REJECTED: "Rejected",
}
ERROR_TYPE = {
    ErrorCategory.COMPLIANCE: "compliance_failed",
    ErrorCategory.CONTENT_POLICY: "compliance_failed",
    ErrorCategory.GENERATION_FAILED: "generation_failed",
}


def write_campaign(folder: Path) -> Path:
    path = folder / "campaign.yaml"
    path.write_text(textwrap.dedent(CAMPAIGN), encoding="utf-8")
    return path


def plain(prop: dict[str, Any]) -> Any:
    """A property value of a page in Notion's response shape, as a plain value."""
    kind = prop["type"]
    value = prop[kind]
    if kind in ("title", "rich_text"):
        return "".join(part["plain_text"] for part in value)
    if kind in ("select", "status"):
        return value["name"] if value else None
    if kind == "date":
        return value["start"] if value else None
    return value  # number, url, checkbox


def pages_by_job(fake: EmbeddedFakeNotion, data_source_id: str) -> dict[str, dict[str, Any]]:
    """Every page of the data source, keyed by its ``Job ID``; fails on a duplicate."""
    pages = [
        {name: plain(prop) for name, prop in page["properties"].items()}
        for page in fake.state.pages(data_source_id)
    ]
    counts = Counter(page["Job ID"] for page in pages)
    duplicated = {job: n for job, n in counts.items() if n > 1}
    assert not duplicated, f"duplicate pages: {duplicated}"
    return {page["Job ID"]: page for page in pages}


def check_pages(
    fake: EmbeddedFakeNotion, data_source_id: str, store: Store, batch_id: str
) -> Counter[str]:
    """Exactly one page per job, each with the job's final properties; the states seen."""
    jobs = store.jobs(batch_id)
    pages = pages_by_job(fake, data_source_id)
    assert sorted(pages) == sorted(job.id for job in jobs)
    states: Counter[str] = Counter()
    for job in jobs:
        check_page(pages[job.id], job, store)
        states[job.state.value] += 1
    return states


def check_page(page: dict[str, Any], job: JobRow, store: Store) -> None:
    where = f"page of {job.id}"
    assert page["Status"] == STATUS[job.state], where
    assert page["Batch"] == job.batch_id, where
    assert page["Provider"] == job.provider, where
    assert page["Model"] == job.model, where
    assert page["Seconds"] == job.seconds, where
    assert page["Size"] == job.size, where
    assert page["Prompt"] == job.prompt, where
    assert page["Brand"] == "Acme", where
    assert page["Combination ID"] == job.labels["combination_id"], where
    for dimension in ("aesthetic", "type", "gender"):
        assert page[dimension.title()] == job.labels[dimension], where
    assert "Dimensions" not in page, where
    assert (page["Video ID"] or None) == job.remote_id, where
    if job.state is JobState.DONE:
        assert job.actual_cost is not None
        assert Decimal(str(page["Cost"])) == job.actual_cost, where
        assets = {asset.variant.value: asset for asset in store.assets(job.id)}
        assert page["Video"] == assets["video"].path.resolve().as_uri(), where
        assert page["Thumbnail"] == assets["thumbnail"].path.resolve().as_uri(), where
        assert page["Progress"] in (100, 1, 1.0), where
        assert not page["Error Type"], where
    else:
        assert job.category is not None
        assert page["Error Type"] == ERROR_TYPE[job.category], where
        assert page["Error"], where
        assert not page["Video"], where


def busiest_window(fake: EmbeddedFakeNotion, seconds: float = 10.0) -> int:
    """The most ``/v1`` requests the fake received within any ``seconds``-long window."""
    times = sorted(r.monotonic for r in fake.state.log.records if r.path.startswith("/v1/"))
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= seconds:  # a half-open window [t - seconds, t)
            start += 1
        most = max(most, end - start + 1)
    return most
