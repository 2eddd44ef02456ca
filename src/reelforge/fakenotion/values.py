"""Page property values: strict validation against the schema, and Notion's response shapes.

Values are stored in the shape Notion answers with (``{"type": "number", "number": 45}``), keyed by
property id, so a rename or a page read needs no conversion.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from reelforge.fakenotion.errors import MISSING, NotionApiError, validation_error
from reelforge.fakenotion.schema import PropertySchema, find_property, new_option

__all__ = [
    "MAX_TEXT_CONTENT",
    "MAX_TEXT_OBJECTS",
    "convert_value",
    "empty_value",
    "plain_text",
    "rich_text_object",
    "validate_properties",
    "validate_value",
]

MAX_TEXT_CONTENT = 2000
"""Characters allowed in one text object's ``content`` (and in a ``url`` value)."""
MAX_TEXT_OBJECTS = 100
"""Rich-text objects allowed in one ``title`` or ``rich_text`` value."""

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_ANNOTATIONS = ("bold", "italic", "strikethrough", "underline", "code")


def empty_value(prop: PropertySchema) -> dict[str, Any]:
    """The value of a property the page never set."""
    empty: Any
    if prop.type in ("title", "rich_text", "multi_select"):
        empty = []
    elif prop.type == "checkbox":
        empty = False
    else:
        empty = None
    return {"type": prop.type, prop.type: empty}


def plain_text(value: dict[str, Any]) -> str:
    """The plain text of a stored ``title`` or ``rich_text`` value."""
    items = value.get(value.get("type", ""), [])
    if not isinstance(items, list):
        return ""
    return "".join(str(item.get("plain_text", "")) for item in items)


def rich_text_object(content: str, link: str | None = None) -> dict[str, Any]:
    """A text object as Notion renders it."""
    return {
        "type": "text",
        "text": {"content": content, "link": {"url": link} if link else None},
        "annotations": dict.fromkeys(_ANNOTATIONS, False) | {"color": "default"},
        "plain_text": content,
        "href": link,
    }


def _rich_text(path: str, raw: object) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise validation_error(path, "an array", raw)
    if len(raw) > MAX_TEXT_OBJECTS:
        raise validation_error(f"{path}.length", f"≤ `{MAX_TEXT_OBJECTS}`", len(raw))
    return [_text_item(f"{path}[{index}]", item) for index, item in enumerate(raw)]


def _text_item(where: str, item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise validation_error(where, "an object", item)
    kind = item.get("type", "text")
    if kind != "text":
        raise validation_error(f"{where}.type", '`"text"`', kind)
    text = item.get("text", MISSING)
    if text is MISSING:
        raise validation_error(f"{where}.text", "defined")
    if not isinstance(text, dict):
        raise validation_error(f"{where}.text", "an object", text)
    content = text.get("content", MISSING)
    if content is MISSING:
        raise validation_error(f"{where}.text.content", "defined")
    if not isinstance(content, str):
        raise validation_error(f"{where}.text.content", "a string", content)
    if len(content) > MAX_TEXT_CONTENT:
        raise validation_error(
            f"{where}.text.content.length", f"≤ `{MAX_TEXT_CONTENT}`", len(content)
        )
    link = text.get("link")
    url: str | None = None
    if link is not None:
        url = link.get("url") if isinstance(link, dict) else None
        if not isinstance(url, str) or not _URL.match(url):
            raise NotionApiError(400, "validation_error", "Invalid URL for link.")
    rendered = rich_text_object(content, url)
    annotations = item.get("annotations")
    if isinstance(annotations, dict):
        for name in _ANNOTATIONS:
            if isinstance(annotations.get(name), bool):
                rendered["annotations"][name] = annotations[name]
    return rendered


def _option(path: str, prop: PropertySchema, raw: object, *, create: bool) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise validation_error(path, "an object or `null`", raw)
    name = raw.get("name")
    option_id = raw.get("id")
    if name is None and option_id is None:
        raise validation_error(f"{path}.name", "defined", MISSING)
    if name is not None and not isinstance(name, str):
        raise validation_error(f"{path}.name", "a string", name)
    if option_id is not None and not isinstance(option_id, str):
        raise validation_error(f"{path}.id", "a string", option_id)
    found = prop.option(name=name, option_id=option_id)
    if found is not None:
        return found.to_value()
    what = "status" if prop.type == "status" else "select"
    if name is None:
        raise NotionApiError(
            400, "validation_error", f"Invalid {what} option id {option_id!r} for {prop.name}."
        )
    if not create:
        raise NotionApiError(
            400,
            "validation_error",
            f'Invalid status option. Status option "{name}" does not exist for {prop.name}.',
        )
    if "," in name:
        raise NotionApiError(
            400, "validation_error", f"Invalid select option, commas not allowed: {name}"
        )
    if not name.strip():
        raise validation_error(f"{path}.name", "a non-empty string", name)
    if len(name) > 100:
        raise validation_error(f"{path}.name.length", "≤ `100`", len(name))
    color = raw.get("color", "default")
    option = new_option(name, color if isinstance(color, str) else "default")
    prop.options.append(option)
    return option.to_value()


def _date(path: str, raw: object) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise validation_error(path, "an object or `null`", raw)
    start = raw.get("start", MISSING)
    if start is MISSING:
        raise validation_error(f"{path}.start", "defined")
    for key in ("start", "end"):
        value = raw.get(key)
        if key == "end" and value is None:
            continue
        if not isinstance(value, str) or not _is_iso(value):
            raise validation_error(f"{path}.{key}", "a valid ISO 8601 date string", value)
    time_zone = raw.get("time_zone")
    if time_zone is not None and not isinstance(time_zone, str):
        raise validation_error(f"{path}.time_zone", "a string or `null`", time_zone)
    return {"start": start, "end": raw.get("end"), "time_zone": time_zone}


def _is_iso(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _url(path: str, raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise validation_error(path, "a string or `null`", raw)
    if len(raw) > MAX_TEXT_CONTENT:
        raise validation_error(f"{path}.length", f"≤ `{MAX_TEXT_CONTENT}`", len(raw))
    if not _URL.match(raw):
        raise validation_error(path, "a valid URL", raw)
    return raw


def _number(path: str, raw: object) -> int | float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise validation_error(path, "a number or `null`", raw)
    return raw


def _multi_select(path: str, prop: PropertySchema, raw: object) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise validation_error(path, "an array", raw)
    values: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        option = _option(f"{path}[{index}]", prop, item, create=True)
        if option is None:
            raise validation_error(f"{path}[{index}]", "an object", None)
        values.append(option)
    return values


def validate_value(path: str, prop: PropertySchema, raw: object) -> dict[str, Any]:
    """Check ``raw`` (a property value from a request) against ``prop``; the stored value.

    A select or multi-select option that does not exist yet is added to the schema, like Notion.
    """
    if not isinstance(raw, dict):
        raise validation_error(path, "an object", raw)
    declared = raw.get("type")
    if declared is not None and declared != prop.type:
        raise NotionApiError(400, "validation_error", f"{prop.name} is expected to be {prop.type}.")
    if prop.type not in raw:
        raise NotionApiError(400, "validation_error", f"{prop.name} is expected to be {prop.type}.")
    value = raw[prop.type]
    where = f"{path}.{prop.type}"
    stored: Any
    if prop.type in ("title", "rich_text"):
        stored = _rich_text(where, value)
    elif prop.type == "number":
        stored = _number(where, value)
    elif prop.type in ("select", "status"):
        stored = _option(where, prop, value, create=prop.type == "select")
    elif prop.type == "multi_select":
        stored = _multi_select(where, prop, value)
    elif prop.type == "url":
        stored = _url(where, value)
    elif prop.type == "date":
        stored = _date(where, value)
    elif prop.type == "checkbox":
        if not isinstance(value, bool):
            raise validation_error(where, "a boolean", value)
        stored = value
    else:  # pragma: no cover - every schema type is handled above
        raise NotionApiError(400, "validation_error", f"{prop.name} cannot be set.")
    return {"type": prop.type, prop.type: stored}


def validate_properties(
    schema: dict[str, PropertySchema], raw: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Validate every value in ``raw``; the stored values by property id. Adds new select
    options to ``schema`` (a copy the caller commits only on success)."""
    values: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        prop = find_property(schema, key)
        if prop is None:
            raise NotionApiError(400, "validation_error", f"{key} is not a property that exists.")
        if prop.id in values:
            raise NotionApiError(
                400,
                "validation_error",
                f"{prop.name} is given more than once (by name and by id {prop.id}).",
            )
        values[prop.id] = validate_value(f"body.properties.{key}", prop, value)
    return values


def convert_value(value: dict[str, Any], prop: PropertySchema) -> dict[str, Any]:
    """A stored value carried over to a retyped property, as far as Notion would keep it."""
    old_type = value.get("type")
    text = plain_text(value) if old_type in ("title", "rich_text") else None
    raw = value.get(str(old_type))
    if text is None and isinstance(raw, str | int | float) and not isinstance(raw, bool):
        text = str(raw)
    elif text is None and isinstance(raw, dict) and isinstance(raw.get("name"), str):
        text = raw["name"]
    if text:
        if prop.type in ("title", "rich_text"):
            return {"type": prop.type, prop.type: [rich_text_object(text)]}
        if prop.type == "number":
            try:
                return {"type": "number", "number": float(text)}
            except ValueError:
                pass
        if prop.type in ("select", "status"):
            option = prop.option(name=text)
            if option is not None:
                return {"type": prop.type, prop.type: option.to_value()}
    return empty_value(prop)
