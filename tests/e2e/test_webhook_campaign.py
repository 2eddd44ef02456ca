"""`campaign run --webhook URL --events-jsonl FILE`: a receiver that verifies signatures gets a
terminal event for every job, each job's events in order, despite 503s at the start; the
JSONL log holds the whole outbox once."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.sinks.webhook_receiver import Receiver
from typer.testing import CliRunner

from reelforge.cli.main import app
from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig
from reelforge.store import EventKind, Store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CAMPAIGN = """\
campaign: hooks
brand: Acme
product_category: sparkling water
big_idea: Refreshment that keeps up with you
defaults: {provider: openai, model: sora-2, seconds: 4, size: 1280x720}
dimensions:
  aesthetic: [cinematic, noir, retro]
  type: [product hero, testimonial]
  gender: [female, male]
template: >
  {{ aesthetic }} {{ type }} ad for {{ brand }}: a {{ gender }} opens a cold can.
  {% if type == "testimonial" %}"Clinically proven to boost energy."{% endif %}
"""
TERMINAL = {"done", "failed", "rejected"}


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedSimulator]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-e2e-hooks")
    monkeypatch.setenv("REELFORGE_WEBHOOK_SECRET", SECRET)
    with EmbeddedSimulator(SimConfig(faults=FaultConfig(moderation_patterns=("noir",)))) as emb:
        yield emb


def test_receiver_gets_every_job_in_order(sim: EmbeddedSimulator, tmp_path: Path) -> None:
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(CAMPAIGN, encoding="utf-8")
    events_file = tmp_path / "events.jsonl"
    db = tmp_path / "db.sqlite"
    with Receiver(SECRET, answers=[503, 503, 503]) as receiver:
        result = CliRunner().invoke(
            app,
            [
                "campaign", "run", str(campaign), "--base-url", sim.base_url, "--db", str(db),
                "--out", str(tmp_path / "out"), "--webhook", receiver.url,
                "--events-jsonl", str(events_file), "--json",
            ],
        )  # fmt: skip
        seen = receiver.snapshot()
    assert result.exit_code in (0, 1), result.output
    assert SECRET not in result.output

    with Store(f"sqlite:///{db}") as store:
        jobs = {job.id: job for job in store.jobs("hooks")}
        outbox = store.events_after(0, limit=100_000)
    assert len(jobs) == 12

    # Every job's final state arrived, signed and verified, each job's events in order.
    assert seen.invalid == []
    assert len(seen.attempts) >= len(seen.accepted) + 3  # the three 503s were retried
    by_job: dict[str, list[dict[str, object]]] = defaultdict(list)
    for document in seen.accepted:
        data = document["data"]
        by_job[data["job_id"]].append(data)
    assert set(by_job) == set(jobs)
    for job_id, events in by_job.items():
        ids = [event["event_id"] for event in events]
        assert ids == sorted(ids), f"{job_id}: out of order"
        terminal = [
            event["state"]
            for event in events
            if event["kind"] == "state" and event["state"] in TERMINAL
        ]
        assert terminal == [jobs[job_id].state.value], job_id
    states = {job.state.value for job in jobs.values()}
    assert {"done", "failed", "rejected"} <= states  # noir refused by the provider

    # The JSONL log: every outbox event once, in outbox order, with its webhook id, except
    # progress ticks coalesced with a later event of the same job.
    lines = [json.loads(line) for line in events_file.read_text("utf-8").splitlines()]
    logged = [line["data"]["event_id"] for line in lines]
    assert logged == sorted(set(logged))
    missing = [event for event in outbox if event.id not in set(logged)]
    assert all(event.kind is EventKind.PROGRESS for event in missing), missing
    assert len({line["id"] for line in lines}) == len(lines)
    # Each sink coalesces progress ticks by its own batches, so a tick one delivered may be
    # folded into a later event by the other; every other event reached both.
    webhook_ids = {
        identifier
        for identifier, document in zip(seen.accepted_ids, seen.accepted, strict=True)
        if document["data"]["kind"] != EventKind.PROGRESS.value
    }
    assert webhook_ids <= {line["id"] for line in lines}
