"""Databases and data sources: retrieval shapes and schema updates through notion-client."""

from __future__ import annotations

import pytest
from fakenotion_kit import JOBS_SCHEMA, MakeClient, raises, rich, title
from notion_client import AsyncClient

from reelforge.fakenotion import CreatedDatabase, EmbeddedFakeNotion, NotionApiError


async def test_database_lists_its_data_source(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    db = await notion.databases.retrieve(jobs.database_id)
    assert db["object"] == "database"
    assert db["id"] == jobs.database_id
    assert db["title"][0]["plain_text"] == "Batch jobs"
    assert db["data_sources"] == [{"id": jobs.data_source_id, "name": "Batch jobs"}]
    assert db["created_time"].endswith("Z")
    assert db["request_id"]


async def test_ids_are_accepted_without_dashes(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    db = await notion.databases.retrieve(jobs.database_id.replace("-", ""))
    assert db["id"] == jobs.database_id


async def test_data_source_schema_shape(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    ds = await notion.data_sources.retrieve(jobs.data_source_id)
    assert ds["object"] == "data_source"
    assert ds["parent"] == {"type": "database_id", "database_id": jobs.database_id}
    props = ds["properties"]
    assert set(props) == set(JOBS_SCHEMA)
    assert props["Name"] == {
        "id": "title",
        "name": "Name",
        "description": "",
        "type": "title",
        "title": {},
    }
    assert props["Cost"]["number"] == {"format": "dollar"}
    assert [o["name"] for o in props["Status"]["select"]["options"]] == [
        "Pending",
        "In Progress",
        "Completed",
        "Failed",
    ]
    assert [o["name"] for o in props["Stage"]["status"]["options"]] == [
        "Not started",
        "In progress",
        "Done",
    ]
    for name, prop in props.items():
        assert prop["name"] == name
        assert prop["type"] in prop


async def test_unknown_ids_are_404(notion: AsyncClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    error = await raises(notion.databases.retrieve(missing), 404)
    assert error.code == "object_not_found"
    assert missing in str(error)
    await raises(notion.data_sources.retrieve(missing), 404)
    await raises(notion.pages.retrieve(missing), 404)


async def test_malformed_id_is_a_validation_error(notion: AsyncClient) -> None:
    error = await raises(notion.pages.retrieve("not-an-id"), 400)
    assert error.code == "validation_error"
    assert "should be a valid uuid" in str(error)


async def test_update_adds_a_property(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    ds = await notion.data_sources.update(
        jobs.data_source_id, properties={"Video ID": {"rich_text": {}}}
    )
    assert ds["properties"]["Video ID"]["type"] == "rich_text"
    again = await notion.data_sources.retrieve(jobs.data_source_id)
    assert "Video ID" in again["properties"]


async def test_retype_changes_what_pages_accept(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    parent = {"type": "data_source_id", "data_source_id": jobs.data_source_id}
    page = await notion.pages.create(
        parent=parent, properties={"Name": title("a"), "Progress": {"number": 45}}
    )
    ds = await notion.data_sources.update(
        jobs.data_source_id, properties={"Progress": {"rich_text": {}}}
    )
    assert ds["properties"]["Progress"]["type"] == "rich_text"
    error = await raises(
        notion.pages.update(page["id"], properties={"Progress": {"number": 50}}), 400
    )
    assert str(error) == "Progress is expected to be rich_text."
    kept = await notion.pages.retrieve(page["id"])
    assert kept["properties"]["Progress"]["rich_text"][0]["plain_text"] == "45"


async def test_number_format_change(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    ds = await notion.data_sources.update(
        jobs.data_source_id, properties={"Progress": {"number": {"format": "percent"}}}
    )
    assert ds["properties"]["Progress"]["number"] == {"format": "percent"}


async def test_rename_and_remove(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    ds = await notion.data_sources.update(
        jobs.data_source_id, properties={"Prompt": {"name": "Full prompt"}, "Tags": None}
    )
    assert "Prompt" not in ds["properties"]
    assert ds["properties"]["Full prompt"]["type"] == "rich_text"
    assert "Tags" not in ds["properties"]
    parent = {"data_source_id": jobs.data_source_id}
    error = await raises(
        notion.pages.create(parent=parent, properties={"Name": title("x"), "Prompt": rich("p")}),
        400,
    )
    assert str(error) == "Prompt is not a property that exists."


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"Name": {"rich_text": {}}}, "Cannot change the type of the title property"),
        ({"Name": None}, "Cannot delete the title property"),
        ({"Other title": {"title": {}}}, "A data source can have only one title"),
        ({"Ghost": None}, "Ghost is not a property that exists."),
        ({"Ghost": {"name": "Spirit"}}, "Ghost is not a property that exists."),
        ({"Cost": {"number": {"format": "doubloons"}}}, "a supported number format"),
        ({"Weird": {"formula_x": {}}}, "a supported property type"),
        ({"Prompt": {"name": "Job ID"}}, "A property named Job ID already exists."),
        (
            {"Kind": {"select": {"options": [{"name": "a,b"}]}}},
            "commas not allowed",
        ),
    ],
)
async def test_bad_schema_updates_are_rejected_whole(
    notion: AsyncClient,
    jobs: CreatedDatabase,
    properties: dict[str, object],
    message: str,
) -> None:
    before = await notion.data_sources.retrieve(jobs.data_source_id)
    error = await raises(
        notion.data_sources.update(
            jobs.data_source_id, properties={"Added first": {"number": {}}, **properties}
        ),
        400,
    )
    assert error.code == "validation_error"
    assert message in str(error)
    after = await notion.data_sources.retrieve(jobs.data_source_id)
    assert after["properties"] == before["properties"]


async def test_database_parent_needs_a_single_data_source(
    fake: EmbeddedFakeNotion, notion: AsyncClient, jobs: CreatedDatabase
) -> None:
    page = await notion.pages.create(
        parent={"database_id": jobs.database_id}, properties={"Name": title("via db")}
    )
    assert page["parent"]["data_source_id"] == jobs.data_source_id
    second = fake.state.add_data_source(jobs.database_id, {"Title": {"title": {}}}, name="Archive")
    db = await notion.databases.retrieve(jobs.database_id)
    assert [s["id"] for s in db["data_sources"]] == [jobs.data_source_id, second]
    error = await raises(
        notion.pages.create(
            parent={"type": "database_id", "database_id": jobs.database_id},
            properties={"Name": title("ambiguous")},
        ),
        400,
    )
    assert "data_source_id" in str(error)


def test_schema_needs_exactly_one_title(fake: EmbeddedFakeNotion) -> None:
    with pytest.raises(NotionApiError, match="exactly one title property"):
        fake.state.create_database("No title", {"Notes": {"rich_text": {}}})


async def test_retrieve_works_with_any_client_options(
    make_client: MakeClient, jobs: CreatedDatabase
) -> None:
    client = make_client(retry=False)
    ds = await client.data_sources.retrieve(jobs.data_source_id)
    assert ds["id"] == jobs.data_source_id


async def test_same_type_update_changes_only_what_it_states(
    notion: AsyncClient, jobs: CreatedDatabase
) -> None:
    before = await notion.data_sources.retrieve(jobs.data_source_id)
    ds = await notion.data_sources.update(
        jobs.data_source_id, properties={"Status": {"select": {}}, "Cost": {"number": {}}}
    )
    assert ds["properties"]["Status"] == before["properties"]["Status"]
    assert ds["properties"]["Cost"]["number"] == {"format": "dollar"}
    ds = await notion.data_sources.update(
        jobs.data_source_id,
        properties={"Status": {"select": {"options": [{"name": "Pending"}, {"name": "Queued"}]}}},
    )
    old = {o["name"]: o["id"] for o in before["properties"]["Status"]["select"]["options"]}
    new = {o["name"]: o["id"] for o in ds["properties"]["Status"]["select"]["options"]}
    assert list(new) == ["Pending", "Queued"]
    assert new["Pending"] == old["Pending"]
