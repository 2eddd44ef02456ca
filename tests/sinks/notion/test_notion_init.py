"""``init_database`` against the fake Notion: adds what is missing in one PATCH, never retypes."""

from __future__ import annotations

from typing import Any

import pytest
from notion_client import AsyncClient
from notion_helpers import TOKEN

from reelforge.core.errors import ConfigError
from reelforge.fakenotion import EmbeddedFakeNotion
from reelforge.sinks.notion import (
    REQUIRED,
    NotionSchemaError,
    NotionSettings,
    init_database,
    make_client,
)


def _schema(fake: EmbeddedFakeNotion, data_source_id: str) -> dict[str, Any]:
    props = fake.state.data_source_json(data_source_id)["properties"]
    return dict(props.items())


def _patches(fake: EmbeddedFakeNotion) -> list[str]:
    return [r.path for r in fake.state.log.records if r.method == "PATCH"]


def _settings(fake: EmbeddedFakeNotion, database_id: str, **extra: Any) -> NotionSettings:
    return NotionSettings(token=TOKEN, database_id=database_id, base_url=fake.base_url, **extra)


async def test_init_adds_every_missing_property_in_one_patch(fake: EmbeddedFakeNotion) -> None:
    ids = fake.state.create_database(
        "Partial",
        {
            "Name": {"title": {}},
            "Status": {"select": {"options": [{"name": "Pending"}, {"name": "Done-ish"}]}},
            "Cost": {"number": {"format": "dollar"}},
            "Model": {"rich_text": {}},
        },
    )
    settings = _settings(fake, ids.database_id)
    async with make_client(settings) as client:
        report = await init_database(client, settings, dimensions=["aesthetic", "type"])

    schema = _schema(fake, ids.data_source_id)
    expected = {spec.name: spec.type for spec in REQUIRED} | {"Model": "rich_text"}
    for name, kind in expected.items():
        assert schema[name]["type"] == kind, name
    assert schema["Aesthetic"]["type"] == "rich_text"
    assert schema["Type"]["type"] == "rich_text"
    assert schema["Cost"]["number"]["format"] == "dollar"
    assert schema["Progress"]["number"]["format"] == "percent"
    status_options = [o["name"] for o in schema["Status"]["select"]["options"]]
    assert status_options[:2] == ["Pending", "Done-ish"]  # kept, in order
    assert set(status_options) >= {"Queued", "In Progress", "Completed", "Failed", "Canceled"}
    errors = {o["name"] for o in schema["Error Type"]["select"]["options"]}
    assert errors == {"compliance_failed", "generation_failed", "api_error", "timeout", "expired"}

    assert _patches(fake) == [f"/v1/data_sources/{ids.data_source_id}"]
    assert report.changed
    assert "Status" in report.options_added
    assert "Pending" not in report.options_added["Status"]
    assert set(report.present) == {"Name", "Status", "Cost", "Model"}
    assert "Job ID" in report.added
    assert "Aesthetic" in report.added
    assert report.data_source_id == ids.data_source_id


async def test_init_twice_changes_nothing_the_second_time(
    fake: EmbeddedFakeNotion, client: AsyncClient, settings: NotionSettings
) -> None:
    first = await init_database(client, settings)
    second = await init_database(client, settings)
    assert first.changed
    assert not second.changed
    assert second.added == ()
    assert len(_patches(fake)) == 1


async def test_dry_run_reports_and_sends_no_patch(
    fake: EmbeddedFakeNotion, client: AsyncClient, settings: NotionSettings
) -> None:
    source = fake.state.database_json(settings.database_id or "")["data_sources"][0]["id"]
    before = _schema(fake, source)
    report = await init_database(client, settings, dry_run=True)
    assert report.dry_run
    assert not report.changed
    assert len(report.added) == len(REQUIRED) - 1
    assert _patches(fake) == []
    assert _schema(fake, source) == before


async def test_a_conflicting_type_stops_init_and_changes_nothing(
    fake: EmbeddedFakeNotion,
) -> None:
    ids = fake.state.create_database(
        "Conflicting",
        {"Name": {"title": {}}, "Cost": {"rich_text": {}}, "Video": {"number": {}}},
    )
    settings = _settings(fake, ids.database_id)
    before = _schema(fake, ids.data_source_id)
    async with make_client(settings) as client:
        with pytest.raises(NotionSchemaError) as caught:
            await init_database(client, settings)

    message = str(caught.value)
    assert "'Cost' is rich_text, expected number" in message
    assert "'Video' is number, expected url" in message
    assert "Nothing was changed" in message
    assert {c.name for c in caught.value.conflicts} == {"Cost", "Video"}
    assert isinstance(caught.value, ConfigError)
    assert _schema(fake, ids.data_source_id) == before
    assert _patches(fake) == []


async def test_property_names_can_be_mapped(fake: EmbeddedFakeNotion) -> None:
    ids = fake.state.create_database("Mapped", {"Title": {"title": {}}, "Cost": {"rich_text": {}}})
    settings = _settings(
        fake, ids.database_id, property_names={"Cost": "Estimated cost", "Name": "Title"}
    )
    async with make_client(settings) as client:
        report = await init_database(client, settings)
    schema = _schema(fake, ids.data_source_id)
    assert schema["Estimated cost"]["type"] == "number"
    assert schema["Cost"]["type"] == "rich_text"  # left alone
    assert "Title" in report.present


async def test_a_title_under_another_name_is_used_not_added(fake: EmbeddedFakeNotion) -> None:
    ids = fake.state.create_database("Titled", {"Variation": {"title": {}}})
    settings = _settings(fake, ids.database_id)
    async with make_client(settings) as client:
        report = await init_database(client, settings)
    assert "Name" not in report.added
    assert any("'Variation'" in note for note in report.notes)
    assert "Name" not in _schema(fake, ids.data_source_id)


async def test_a_dimension_named_like_a_required_property_gets_a_suffix(
    fake: EmbeddedFakeNotion, client: AsyncClient, settings: NotionSettings
) -> None:
    report = await init_database(client, settings, dimensions=["size", "target_age"])
    assert "Size (dimension)" in report.added
    assert "Target Age" in report.added


async def test_several_data_sources_need_a_choice(fake: EmbeddedFakeNotion) -> None:
    ids = fake.state.create_database("Two", {"Name": {"title": {}}})
    other = fake.state.add_data_source(ids.database_id, {"Name": {"title": {}}}, name="Archive")
    settings = _settings(fake, ids.database_id)
    async with make_client(settings) as client:
        with pytest.raises(ConfigError, match="NOTION_DATA_SOURCE_ID"):
            await init_database(client, settings)
    chosen = _settings(fake, ids.database_id, data_source_id=other)
    async with make_client(chosen) as client:
        report = await init_database(client, chosen)
    assert report.data_source_id == other
    assert "Job ID" in _schema(fake, other)
    assert "Job ID" not in _schema(fake, ids.data_source_id)
