"""A 50-job campaign kept in a (fake) Notion database: one page per job with its final
properties, through a Notion outage during the middle third of the batch, and at most
3 requests a second on average over any 10 seconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from notion_e2e import TOKEN, busiest_window, check_pages, write_campaign

from reelforge.app import Forge
from reelforge.campaign import Campaign
from reelforge.core.models import JobState
from reelforge.fakenotion import CreatedDatabase, EmbeddedFakeNotion, FakeNotionConfig
from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig
from reelforge.sinks.config import SinkPlan
from reelforge.sinks.notion import NotionSettings, init_database, make_client
from reelforge.sinks.status import sink_status
from reelforge.store import BatchSummary, Store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FINAL = (JobState.DONE, JobState.FAILED, JobState.REJECTED)


@pytest.fixture
def fake() -> Iterator[EmbeddedFakeNotion]:
    """The fake with Notion's limit: 3 requests a second on average (429 beyond)."""
    with EmbeddedFakeNotion(FakeNotionConfig(tokens=(TOKEN,))) as emb:
        yield emb


@pytest.fixture
def database(fake: EmbeddedFakeNotion) -> CreatedDatabase:
    return fake.state.create_database("Video variations", {"Name": {"title": {}}})


@pytest.fixture
def settings(fake: EmbeddedFakeNotion, database: CreatedDatabase) -> NotionSettings:
    return NotionSettings(token=TOKEN, database_id=database.database_id, base_url=fake.base_url)


@pytest.fixture
def sim() -> Iterator[EmbeddedSimulator]:
    faults = FaultConfig(moderation_patterns=("noir",), generation_failure_rate=0.1)
    with EmbeddedSimulator(SimConfig(faults=faults, seed=11)) as emb:
        yield emb


async def _init(settings: NotionSettings, campaign: Campaign) -> None:
    client = make_client(settings)
    try:
        report = await init_database(client, settings, dimensions=list(campaign.dimensions))
    finally:
        await client.aclose()
    assert report.changed


@pytest.mark.parametrize("outage", [None, 503, 529], ids=["steady", "down-503", "down-529"])
async def test_every_job_has_one_right_page(
    fake: EmbeddedFakeNotion,
    database: CreatedDatabase,
    settings: NotionSettings,
    sim: EmbeddedSimulator,
    tmp_path: Path,
    outage: int | None,
) -> None:
    campaign = Campaign.load(write_campaign(tmp_path))
    await _init(settings, campaign)
    switched: list[tuple[int | None, int]] = []

    def on_update(summary: BatchSummary) -> None:
        """Notion goes down when a third of the jobs are final, and back at two thirds."""
        if outage is None:
            return
        final = sum(summary.counts[state] for state in FINAL)
        if not switched and final >= summary.total // 3:
            fake.state.set_outage(outage)
            switched.append((outage, final))
        elif len(switched) == 1 and final >= 2 * summary.total // 3:
            fake.state.set_outage(None)
            switched.append((None, final))

    db = tmp_path / "db.sqlite"
    async with Forge(
        base_url=sim.base_url, api_key="sk-e2e", out=tmp_path / "out", db=db, max_in_flight=8
    ) as forge:
        result = await forge.run(campaign, sinks=SinkPlan(notion=settings), on_update=on_update)
    fake.state.set_outage(None)

    assert len(result.batch.jobs) == 50
    if outage is not None:
        assert [state for state, _ in switched] == [outage, None]
        refused = [r for r in fake.state.log.records if r.status == outage]
        assert refused, "the outage was never noticed"
    with Store(f"sqlite:///{db}") as store:
        (status,) = sink_status(store, ["notion"])
        assert status.lag_events == 0, status  # caught up before the run returned
        states = check_pages(fake, database.data_source_id, store, result.batch.batch_id)
    assert states["rejected"] == 10
    assert states["done"] > 20
    assert states["failed"] >= 10
    assert busiest_window(fake) <= 30  # Notion's 3 requests a second, on average
