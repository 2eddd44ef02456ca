"""Helpers shared by the fake Notion server's tests (fixtures live in ``conftest``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from notion_client import AsyncClient
from notion_client.errors import HTTPResponseError

from reelforge.fakenotion import NOTION_VERSION

TOKEN = "secret_test_token"

JOBS_SCHEMA: dict[str, Any] = {
    "Name": {"title": {}},
    "Job ID": {"rich_text": {}},
    "Prompt": {"rich_text": {}},
    "Status": {
        "select": {
            "options": [
                {"name": "Pending", "color": "gray"},
                {"name": "In Progress", "color": "blue"},
                {"name": "Completed", "color": "green"},
                {"name": "Failed", "color": "red"},
            ]
        }
    },
    "Stage": {"status": {}},
    "Progress": {"number": {}},
    "Cost": {"number": {"format": "dollar"}},
    "Video": {"url": {}},
    "Tags": {"multi_select": {}},
    "Done": {"checkbox": {}},
    "Due": {"date": {}},
}


def title(text: str) -> dict[str, Any]:
    return {"title": [{"text": {"content": text}}]}


def rich(text: str) -> dict[str, Any]:
    return {"rich_text": [{"text": {"content": text}}]}


def headers(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Notion-Version": NOTION_VERSION}


async def raises(call: Awaitable[Any], status: int) -> HTTPResponseError:
    """Await ``call``, which must fail with ``status``; the SDK's error."""
    with pytest.raises(HTTPResponseError) as info:
        await call
    assert info.value.status == status, info.value.body
    return info.value


MakeClient = Callable[..., AsyncClient]
