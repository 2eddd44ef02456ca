"""The stored objects — databases, data sources, pages — and their Notion JSON shapes."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from reelforge.fakenotion.errors import NotionApiError
from reelforge.fakenotion.schema import PropertySchema
from reelforge.fakenotion.values import empty_value, plain_text, rich_text_object

__all__ = [
    "BOT_USER",
    "DataSource",
    "Database",
    "Page",
    "new_id",
    "normalize_id",
    "now_iso",
]

BOT_USER = {"object": "user", "id": "6f0a5c1e-2b7d-4c3e-9a8f-0d1e2f3a4b5c"}
"""The integration's bot user, the author of every change."""

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def new_id() -> str:
    """A fresh Notion id (a dashed UUID)."""
    return str(uuid.uuid4())


def normalize_id(raw: str, *, path: str) -> str:
    """``raw`` (dashed or not) as a dashed UUID; 400 ``validation_error`` if it is not one."""
    compact = raw.replace("-", "").lower()
    if not _HEX32.match(compact):
        raise NotionApiError(
            400,
            "validation_error",
            f'path failed validation: {path} should be a valid uuid, instead was `"{raw}"`.',
        )
    return str(uuid.UUID(compact))


def now_iso() -> str:
    """The current UTC time as Notion writes it: ``2025-09-03T12:34:56.789Z``."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _notion_url(title: str, object_id: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")
    compact = object_id.replace("-", "")
    return f"https://www.notion.so/{slug}-{compact}" if slug else f"https://www.notion.so/{compact}"


@dataclass(slots=True)
class Database:
    """A database: a titled container of data sources."""

    id: str
    title: str
    created_time: str
    last_edited_time: str
    data_source_ids: list[str] = field(default_factory=list)

    def to_json(self, names: dict[str, str]) -> dict[str, Any]:
        """``GET /v1/databases/{id}``; ``names`` maps data source ids to their names."""
        return {
            "object": "database",
            "id": self.id,
            "title": [rich_text_object(self.title)],
            "description": [],
            "parent": {"type": "workspace", "workspace": True},
            "is_inline": False,
            "in_trash": False,
            "is_locked": False,
            "created_time": self.created_time,
            "last_edited_time": self.last_edited_time,
            "data_sources": [{"id": i, "name": names[i]} for i in self.data_source_ids],
            "icon": None,
            "cover": None,
            "url": _notion_url(self.title, self.id),
            "public_url": None,
        }


@dataclass(slots=True)
class DataSource:
    """A data source: a property schema and the pages created in it."""

    id: str
    database_id: str
    name: str
    schema: dict[str, PropertySchema]
    created_time: str
    last_edited_time: str

    def to_json(self) -> dict[str, Any]:
        """``GET /v1/data_sources/{id}``."""
        return {
            "object": "data_source",
            "id": self.id,
            "created_time": self.created_time,
            "last_edited_time": self.last_edited_time,
            "created_by": dict(BOT_USER),
            "last_edited_by": dict(BOT_USER),
            "title": [rich_text_object(self.name)],
            "description": [],
            "properties": {name: prop.to_json() for name, prop in self.schema.items()},
            "parent": {"type": "database_id", "database_id": self.database_id},
            "database_parent": {"type": "workspace", "workspace": True},
            "is_inline": False,
            "archived": False,
            "in_trash": False,
            "icon": None,
            "cover": None,
            "url": _notion_url(self.name, self.id),
            "public_url": None,
        }


@dataclass(slots=True)
class Page:
    """A page (a row) of a data source; ``values`` are keyed by property id."""

    id: str
    data_source_id: str
    database_id: str
    created_time: str
    last_edited_time: str
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_trash: bool = False
    icon: Any = None
    cover: Any = None

    def to_json(self, schema: dict[str, PropertySchema]) -> dict[str, Any]:
        """``GET /v1/pages/{id}``: every schema property, set or empty."""
        properties: dict[str, Any] = {}
        title = ""
        for name, prop in schema.items():
            value = self.values.get(prop.id)
            if value is None or value.get("type") != prop.type:
                value = empty_value(prop)
            if prop.type == "title":
                title = plain_text(value)
            properties[name] = {"id": prop.id, **value}
        return {
            "object": "page",
            "id": self.id,
            "created_time": self.created_time,
            "last_edited_time": self.last_edited_time,
            "created_by": dict(BOT_USER),
            "last_edited_by": dict(BOT_USER),
            "cover": self.cover,
            "icon": self.icon,
            "parent": {
                "type": "data_source_id",
                "data_source_id": self.data_source_id,
                "database_id": self.database_id,
            },
            "archived": self.in_trash,
            "in_trash": self.in_trash,
            "is_locked": False,
            "properties": properties,
            "url": _notion_url(title, self.id),
            "public_url": None,
        }
