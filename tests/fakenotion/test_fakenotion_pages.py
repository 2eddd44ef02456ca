"""Pages through notion-client: create, retrieve, update, trash, and strict value validation."""

from __future__ import annotations

from typing import Any

import pytest
from fakenotion_kit import MakeClient, raises, rich, title
from notion_client import AsyncClient

from reelforge.fakenotion import (
    MAX_TEXT_CONTENT,
    MAX_TEXT_OBJECTS,
    CreatedDatabase,
    EmbeddedFakeNotion,
    FakeNotionConfig,
)


def parent_of(jobs: CreatedDatabase) -> dict[str, str]:
    return {"type": "data_source_id", "data_source_id": jobs.data_source_id}


FULL_ROW: dict[str, Any] = {
    "Name": title("acme / cinematic / product hero"),
    "Job ID": rich("job_0001"),
    "Status": {"select": {"name": "In Progress"}},
    "Stage": {"status": {"name": "In progress"}},
    "Progress": {"number": 45},
    "Cost": {"number": 0.8},
    "Video": {"url": "file:///tmp/out/video.mp4"},
    "Tags": {"multi_select": [{"name": "acme"}, {"name": "hero"}]},
    "Done": {"checkbox": False},
    "Due": {"date": {"start": "2025-09-03"}},
}


async def test_create_returns_notions_page_shape(
    notion: AsyncClient, jobs: CreatedDatabase
) -> None:
    page = await notion.pages.create(parent=parent_of(jobs), properties=FULL_ROW)
    assert page["object"] == "page"
    assert page["parent"] == {
        "type": "data_source_id",
        "data_source_id": jobs.data_source_id,
        "database_id": jobs.database_id,
    }
    assert page["in_trash"] is False
    assert page["archived"] is False
    assert page["url"].startswith("https://www.notion.so/acme-cinematic-product-hero-")
    assert page["created_time"] == page["last_edited_time"]
    props = page["properties"]
    assert props["Name"]["id"] == "title"
    assert props["Name"]["type"] == "title"
    text = props["Name"]["title"][0]
    assert text["plain_text"] == "acme / cinematic / product hero"
    assert text["text"] == {"content": "acme / cinematic / product hero", "link": None}
    assert text["annotations"]["bold"] is False
    assert props["Job ID"]["rich_text"][0]["plain_text"] == "job_0001"
    assert props["Status"]["select"]["name"] == "In Progress"
    assert props["Status"]["select"]["color"] == "blue"
    assert props["Stage"]["status"]["name"] == "In progress"
    assert props["Progress"] == {"id": props["Progress"]["id"], "type": "number", "number": 45}
    assert props["Cost"]["number"] == 0.8
    assert props["Video"]["url"] == "file:///tmp/out/video.mp4"
    assert [o["name"] for o in props["Tags"]["multi_select"]] == ["acme", "hero"]
    assert props["Done"]["checkbox"] is False
    assert props["Due"]["date"] == {"start": "2025-09-03", "end": None, "time_zone": None}


async def test_unset_properties_read_back_empty(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    page = await notion.pages.create(parent=parent_of(jobs), properties={"Name": title("x")})
    props = page["properties"]
    assert props["Prompt"]["rich_text"] == []
    assert props["Progress"]["number"] is None
    assert props["Status"]["select"] is None
    assert props["Video"]["url"] is None
    assert props["Tags"]["multi_select"] == []
    assert props["Done"]["checkbox"] is False


async def test_retrieve_and_update(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    page = await notion.pages.create(parent=parent_of(jobs), properties=FULL_ROW)
    updated = await notion.pages.update(
        page["id"],
        properties={
            "Status": {"select": {"name": "Completed"}},
            "Progress": {"number": 100},
            "Video": {"url": None},
        },
    )
    assert updated["properties"]["Status"]["select"]["name"] == "Completed"
    assert updated["properties"]["Progress"]["number"] == 100
    assert updated["properties"]["Video"]["url"] is None
    assert updated["properties"]["Job ID"]["rich_text"][0]["plain_text"] == "job_0001"
    again = await notion.pages.retrieve(page["id"])
    assert again["properties"] == updated["properties"]
    assert again["last_edited_time"] >= page["last_edited_time"]


async def test_properties_can_be_named_by_id(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    ds = await notion.data_sources.retrieve(jobs.data_source_id)
    progress_id = ds["properties"]["Progress"]["id"]
    page = await notion.pages.create(
        parent=parent_of(jobs), properties={"title": title("x"), progress_id: {"number": 3}}
    )
    assert page["properties"]["Progress"]["number"] == 3


async def test_unknown_select_option_is_added_to_the_schema(
    notion: AsyncClient, jobs: CreatedDatabase
) -> None:
    page = await notion.pages.create(
        parent=parent_of(jobs),
        properties={"Name": title("x"), "Status": {"select": {"name": "Cancelled"}}},
    )
    assert page["properties"]["Status"]["select"]["name"] == "Cancelled"
    ds = await notion.data_sources.retrieve(jobs.data_source_id)
    names = [o["name"] for o in ds["properties"]["Status"]["select"]["options"]]
    assert names[-1] == "Cancelled"


async def test_failed_create_adds_no_option(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    await raises(
        notion.pages.create(
            parent=parent_of(jobs),
            properties={
                "Name": title("x"),
                "Status": {"select": {"name": "Brand new"}},
                "Progress": {"number": "nope"},
            },
        ),
        400,
    )
    ds = await notion.data_sources.retrieve(jobs.data_source_id)
    names = [o["name"] for o in ds["properties"]["Status"]["select"]["options"]]
    assert "Brand new" not in names


async def test_limits_are_inclusive(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    chunks = [{"text": {"content": "x" * MAX_TEXT_CONTENT}}] * MAX_TEXT_OBJECTS
    page = await notion.pages.create(
        parent=parent_of(jobs), properties={"Name": title("big"), "Prompt": {"rich_text": chunks}}
    )
    assert len(page["properties"]["Prompt"]["rich_text"]) == MAX_TEXT_OBJECTS


def _long(n: int) -> dict[str, Any]:
    return {"rich_text": [{"text": {"content": "p"}}] * n}


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"Nope": {"number": 1}}, "Nope is not a property that exists."),
    ({"Status": {"status": {"name": "Pending"}}}, "Status is expected to be select."),
    ({"Stage": {"select": {"name": "Done"}}}, "Stage is expected to be status."),
    (
        {"Progress": {"type": "rich_text", "rich_text": []}},
        "Progress is expected to be number.",
    ),
    (
        {"Progress": {"number": "45"}},
        "body failed validation: body.properties.Progress.number should be a number or `null`, "
        'instead was `"45"`.',
    ),
    ({"Progress": {"number": True}}, "Progress.number should be a number or `null`"),
    (
        {"Progress": 45},
        "body failed validation: body.properties.Progress should be an object, instead was `45`.",
    ),
    (
        {"Name": {"title": [{"text": {"content": "x" * (MAX_TEXT_CONTENT + 1)}}]}},
        "body failed validation: body.properties.Name.title[0].text.content.length should be "
        "≤ `2000`, instead was `2001`.",
    ),
    (
        {"Prompt": _long(MAX_TEXT_OBJECTS + 1)},
        "body failed validation: body.properties.Prompt.rich_text.length should be ≤ `100`, "
        "instead was `101`.",
    ),
    ({"Prompt": {"rich_text": "hello"}}, "Prompt.rich_text should be an array"),
    (
        {"Prompt": {"rich_text": [{"content": "hello"}]}},
        "body.properties.Prompt.rich_text[0].text should be defined, instead was `undefined`.",
    ),
    (
        {"Prompt": {"rich_text": [{"text": {"content": 5}}]}},
        "Prompt.rich_text[0].text.content should be a string",
    ),
    (
        {"Prompt": {"rich_text": [{"text": {"content": "a", "link": {"url": "nope"}}}]}},
        "Invalid URL for link.",
    ),
    (
        {"Video": {"url": "not a url"}},
        'body failed validation: body.properties.Video.url should be a valid URL, instead was `"not a url"`.',  # noqa: E501
    ),
    ({"Video": {"url": 12}}, "Video.url should be a string or `null`"),
    ({"Video": {"url": "https://x/" + "a" * 2000}}, "Video.url.length should be ≤ `2000`"),
    ({"Status": {"select": "Pending"}}, "Status.select should be an object or `null`"),
    ({"Status": {"select": {"name": "a,b"}}}, "Invalid select option, commas not allowed: a,b"),
    ({"Status": {"select": {}}}, "Status.select.name should be defined"),
    ({"Stage": {"status": {"name": "Shipped"}}}, 'Status option "Shipped" does not exist'),
    ({"Tags": {"multi_select": {"name": "a"}}}, "Tags.multi_select should be an array"),
    ({"Done": {"checkbox": "yes"}}, "Done.checkbox should be a boolean"),
    ({"Due": {"date": {"start": "tomorrow"}}}, "Due.date.start should be a valid ISO 8601"),
    ({"Due": {"date": {"end": "2025-01-01"}}}, "Due.date.start should be defined"),
]


@pytest.mark.parametrize(("properties", "message"), BAD_VALUES)
async def test_create_rejects_bad_values(
    fake: EmbeddedFakeNotion,
    notion: AsyncClient,
    jobs: CreatedDatabase,
    properties: dict[str, Any],
    message: str,
) -> None:
    body = {"Name": title("row"), **properties}
    error = await raises(notion.pages.create(parent=parent_of(jobs), properties=body), 400)
    assert error.code == "validation_error"
    assert message in str(error)
    assert error.request_id
    assert fake.state.pages(jobs.data_source_id) == []


@pytest.mark.parametrize(("properties", "message"), BAD_VALUES)
async def test_update_rejects_bad_values_and_changes_nothing(
    notion: AsyncClient,
    jobs: CreatedDatabase,
    properties: dict[str, Any],
    message: str,
) -> None:
    page = await notion.pages.create(
        parent=parent_of(jobs), properties={"Name": title("row"), "Progress": {"number": 1}}
    )
    error = await raises(notion.pages.update(page["id"], properties=properties), 400)
    assert message in str(error)
    again = await notion.pages.retrieve(page["id"])
    assert again["properties"] == page["properties"]


async def test_create_needs_the_title(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    error = await raises(
        notion.pages.create(parent=parent_of(jobs), properties={"Progress": {"number": 1}}), 400
    )
    assert str(error) == (
        "body failed validation: body.properties.Name should be defined, instead was `undefined`."
    )


async def test_title_can_be_optional(make_client: MakeClient) -> None:
    with EmbeddedFakeNotion(FakeNotionConfig(rate_limit=False, require_title=False)) as other:
        ids = other.state.create_database("Jobs", {"Name": {"title": {}}})
        client = make_client(base_url=other.base_url)
        page = await client.pages.create(parent={"data_source_id": ids.data_source_id})
        assert page["properties"]["Name"]["title"] == []


@pytest.mark.parametrize(
    ("parent", "status", "message"),
    [
        (None, 400, "body.parent should be defined"),
        ("ds", 400, "body.parent should be an object"),
        ({"type": "workspace", "workspace": True}, 400, "body.parent should be"),
        (
            {"data_source_id": "00000000-0000-4000-8000-000000000000"},
            404,
            "Could not find data source with ID",
        ),
        ({"data_source_id": "xyz"}, 400, "should be a valid uuid"),
        (
            {"page_id": "00000000-0000-4000-8000-000000000000"},
            404,
            "Could not find page with ID",
        ),
    ],
)
async def test_bad_parents(notion: AsyncClient, parent: object, status: int, message: str) -> None:
    kwargs: dict[str, Any] = {"properties": {"Name": title("x")}}
    if parent is not None:
        kwargs["parent"] = parent
    error = await raises(notion.pages.create(**kwargs), status)
    assert message in str(error)


async def test_unknown_body_keys_are_rejected(
    notion: AsyncClient, jobs: CreatedDatabase, fake: EmbeddedFakeNotion
) -> None:
    error = await raises(
        notion.request(
            path="pages",
            method="POST",
            body={"parent": parent_of(jobs), "properties": {"Name": title("x")}, "propz": {}},
        ),
        400,
    )
    assert "body.propz should be not present" in str(error)


async def test_trash_and_restore(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    page = await notion.pages.create(parent=parent_of(jobs), properties={"Name": title("x")})
    trashed = await notion.pages.update(page["id"], in_trash=True)
    assert trashed["in_trash"] is True
    assert trashed["archived"] is True
    error = await raises(
        notion.pages.update(page["id"], properties={"Progress": {"number": 2}}), 400
    )
    assert "archived" in str(error)
    restored = await notion.pages.update(
        page["id"], archived=False, properties={"Progress": {"number": 2}}
    )
    assert restored["in_trash"] is False
    assert restored["properties"]["Progress"]["number"] == 2
    error = await raises(notion.pages.update(page["id"], archived="yes"), 400)
    assert "body.archived should be a boolean" in str(error)


async def test_dump_helper_shows_pages_as_notion_does(
    fake: EmbeddedFakeNotion, notion: AsyncClient, jobs: CreatedDatabase
) -> None:
    page = await notion.pages.create(parent=parent_of(jobs), properties=FULL_ROW)
    gone = await notion.pages.create(parent=parent_of(jobs), properties={"Name": title("y")})
    await notion.pages.update(gone["id"], archived=True)
    dumped = fake.state.pages(jobs.data_source_id)
    assert [p["id"] for p in dumped] == [page["id"]]
    assert dumped[0]["properties"] == page["properties"]
    everything = fake.state.pages(jobs.data_source_id, include_trashed=True)
    assert [p["id"] for p in everything] == [page["id"], gone["id"]]


async def test_a_property_given_twice_is_rejected(
    notion: AsyncClient, jobs: CreatedDatabase
) -> None:
    error = await raises(
        notion.pages.create(
            parent=parent_of(jobs), properties={"Name": title("a"), "title": title("b")}
        ),
        400,
    )
    assert str(error) == "Name is given more than once (by name and by id title)."
