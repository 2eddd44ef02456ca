"""``data_sources.query`` through notion-client: filters, sorts, pagination, trashed pages."""

from __future__ import annotations

from typing import Any

import pytest
from fakenotion_kit import raises, rich, title
from notion_client import AsyncClient

from reelforge.fakenotion import CreatedDatabase

ROWS = [
    ("hero shot", "job_001", "Pending", 0),
    ("lifestyle reel", "job_002", "In Progress", 45),
    ("hero close-up", "job_003", "Completed", 100),
    ("unboxing", "job_004", "Failed", 10),
    ("HERO wide", "job_005", "Completed", 100),
]


@pytest.fixture
async def rows(notion: AsyncClient, jobs: CreatedDatabase) -> list[dict[str, Any]]:
    made = []
    for name, job_id, status, progress in ROWS:
        made.append(
            await notion.pages.create(
                parent={"type": "data_source_id", "data_source_id": jobs.data_source_id},
                properties={
                    "Name": title(name),
                    "Job ID": rich(job_id),
                    "Status": {"select": {"name": status}},
                    "Progress": {"number": progress},
                },
            )
        )
    return made


async def names(notion: AsyncClient, jobs: CreatedDatabase, **body: Any) -> list[str]:
    answer = await notion.data_sources.query(jobs.data_source_id, **body)
    assert answer["object"] == "list"
    return [p["properties"]["Name"]["title"][0]["plain_text"] for p in answer["results"]]


@pytest.mark.usefixtures("rows")
@pytest.mark.parametrize(
    ("query_filter", "expected"),
    [
        ({"property": "Job ID", "rich_text": {"equals": "job_003"}}, ["hero close-up"]),
        ({"property": "Job ID", "rich_text": {"equals": "JOB_003"}}, []),
        ({"property": "Job ID", "rich_text": {"contains": "00"}}, [r[0] for r in ROWS]),
        (
            {"property": "Name", "title": {"contains": "hero"}},
            ["hero shot", "hero close-up", "HERO wide"],
        ),
        ({"property": "Name", "title": {"equals": "unboxing"}}, ["unboxing"]),
        ({"property": "Name", "rich_text": {"starts_with": "life"}}, ["lifestyle reel"]),
        (
            {"property": "Status", "select": {"equals": "Completed"}},
            ["hero close-up", "HERO wide"],
        ),
        ({"property": "Progress", "number": {"equals": 45}}, ["lifestyle reel"]),
        (
            {"property": "Progress", "number": {"greater_than": 40}},
            ["lifestyle reel", "hero close-up", "HERO wide"],
        ),
        ({"property": "Video", "url": {"is_not_empty": True}}, []),
        (
            {
                "and": [
                    {"property": "Name", "title": {"contains": "hero"}},
                    {"property": "Status", "select": {"equals": "Completed"}},
                ]
            },
            ["hero close-up", "HERO wide"],
        ),
        (
            {
                "or": [
                    {"property": "Job ID", "rich_text": {"equals": "job_001"}},
                    {"property": "Status", "select": {"equals": "Failed"}},
                ]
            },
            ["hero shot", "unboxing"],
        ),
        (
            {
                "or": [
                    {"property": "Job ID", "rich_text": {"equals": "job_002"}},
                    {
                        "and": [
                            {"property": "Progress", "number": {"equals": 100}},
                            {"property": "Name", "title": {"starts_with": "hero c"}},
                        ]
                    },
                ]
            },
            ["lifestyle reel", "hero close-up"],
        ),
    ],
)
async def test_filters(
    notion: AsyncClient,
    jobs: CreatedDatabase,
    query_filter: dict[str, Any],
    expected: list[str],
) -> None:
    assert await names(notion, jobs, filter=query_filter) == expected


@pytest.mark.usefixtures("rows")
@pytest.mark.parametrize(
    ("query_filter", "message"),
    [
        (
            {"property": "Ghost", "rich_text": {"equals": "x"}},
            "Could not find property with name or id: Ghost",
        ),
        ({"property": "Status", "number": {"equals": 1}}, "of type select should use `select`"),
        ({"property": "Job ID", "rich_text": {"near": "x"}}, "a supported condition"),
        ({"property": "Progress", "number": {"equals": "45"}}, "should be a number"),
        ({"property": "Job ID", "rich_text": {"equals": 3}}, "should be a string"),
        ({"and": {"property": "Name"}}, "body.filter.and should be an array"),
        (
            {"and": [{"or": [{"and": [{"property": "Name", "title": {"equals": "x"}}]}]}]},
            "nests compound filters deeper than 2 levels",
        ),
        ("Name", "body.filter should be an object"),
    ],
)
async def test_bad_filters(
    notion: AsyncClient, jobs: CreatedDatabase, query_filter: object, message: str
) -> None:
    error = await raises(notion.data_sources.query(jobs.data_source_id, filter=query_filter), 400)
    assert error.code == "validation_error"
    assert message in str(error)


@pytest.mark.usefixtures("rows")
async def test_pagination(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        answer = await notion.data_sources.query(
            jobs.data_source_id, page_size=2, start_cursor=cursor
        )
        pages += 1
        seen += [p["properties"]["Job ID"]["rich_text"][0]["plain_text"] for p in answer["results"]]
        assert answer["has_more"] == (answer["next_cursor"] is not None)
        if not answer["has_more"]:
            break
        cursor = answer["next_cursor"]
    assert pages == 3
    assert seen == [r[1] for r in ROWS]


async def test_default_page_size_is_100(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    parent = {"data_source_id": jobs.data_source_id}
    for i in range(101):
        await notion.pages.create(parent=parent, properties={"Name": title(f"row {i}")})
    first = await notion.data_sources.query(jobs.data_source_id)
    assert len(first["results"]) == 100
    assert first["has_more"] is True
    rest = await notion.data_sources.query(
        jobs.data_source_id, start_cursor=first["next_cursor"], page_size=100
    )
    assert [p["properties"]["Name"]["title"][0]["plain_text"] for p in rest["results"]] == [
        "row 100"
    ]
    assert rest["next_cursor"] is None


@pytest.mark.usefixtures("rows")
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"page_size": 101}, "body.page_size should be ≤ `100`, instead was `101`."),
        ({"page_size": 0}, "body.page_size should be ≥ `1`"),
        ({"page_size": "10"}, "body.page_size should be an integer"),
        ({"start_cursor": "00000000-0000-4000-8000-000000000000"}, "start_cursor provided is"),
        ({"start_cursor": "garbage"}, "start_cursor provided is invalid: garbage"),
        ({"sorts": [{"property": "Ghost"}]}, "Could not find sort property"),
        ({"sorts": [{"property": "Name", "direction": "up"}]}, "direction should be"),
    ],
)
async def test_bad_query_bodies(
    notion: AsyncClient, jobs: CreatedDatabase, body: dict[str, Any], message: str
) -> None:
    error = await raises(notion.data_sources.query(jobs.data_source_id, **body), 400)
    assert message in str(error)


@pytest.mark.usefixtures("rows")
async def test_sorts(notion: AsyncClient, jobs: CreatedDatabase) -> None:
    ordered = await names(
        notion,
        jobs,
        sorts=[
            {"property": "Progress", "direction": "descending"},
            {"property": "Job ID", "direction": "ascending"},
        ],
    )
    assert ordered == ["hero close-up", "HERO wide", "lifestyle reel", "unboxing", "hero shot"]
    newest_first = await names(
        notion, jobs, sorts=[{"timestamp": "created_time", "direction": "descending"}]
    )
    assert newest_first[-1] == "hero shot"


async def test_trashed_pages_are_left_out(
    notion: AsyncClient, jobs: CreatedDatabase, rows: list[dict[str, Any]]
) -> None:
    await notion.pages.update(rows[0]["id"], archived=True)
    await notion.pages.update(rows[1]["id"], in_trash=True)
    remaining = await names(notion, jobs)
    assert remaining == [r[0] for r in ROWS[2:]]
    only_job = await names(
        notion, jobs, filter={"property": "Job ID", "rich_text": {"equals": "job_001"}}
    )
    assert only_job == []


async def test_query_of_unknown_data_source(notion: AsyncClient) -> None:
    error = await raises(notion.data_sources.query("00000000-0000-4000-8000-000000000000"), 404)
    assert error.code == "object_not_found"
