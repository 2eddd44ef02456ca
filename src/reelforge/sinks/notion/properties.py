"""A job snapshot as Notion property values.

Everything is computed from the job as the store holds it (never from the event), so a replayed
or late event writes the same values, and a later event supersedes an earlier one. Every
property is written every time, empty ones as ``null`` or ``[]``, so a value cleared by a
retry is cleared in Notion too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import quote

from reelforge.core.models import Variant
from reelforge.sinks.notion.schema import (
    CAMPAIGN_LABELS,
    dimension_labels,
    dimension_property,
    error_type,
    review_name,
    status_name,
)
from reelforge.sinks.notion.settings import NotionSettings
from reelforge.store.rows import AssetRow, JobRow, Review

__all__ = [
    "MAX_TEXT_OBJECTS",
    "MAX_TEXT_UNITS",
    "DataSourceSchema",
    "logical_values",
    "page_properties",
    "page_title",
    "split_text",
    "truncate_text",
]

MAX_TEXT_UNITS = 2000
"""Notion's limit per text object, counted as JavaScript does (UTF-16 code units)."""
MAX_TEXT_OBJECTS = 100
"""Notion's limit on text objects per property value."""
_ELLIPSIS = "…"

Kind = Literal["text", "number", "percent", "url", "date", "status"]

_OPTIONAL_LABELS: Mapping[str, str] = MappingProxyType(
    {"campaign": "Campaign", "product_category": "Product Category"}
)
"""Campaign labels written only when the database has a property for them."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DataSourceSchema:
    """The properties a data source has: name → type, and number formats."""

    data_source_id: str
    types: Mapping[str, str] = field(hash=False)
    formats: Mapping[str, str] = field(default_factory=dict, hash=False)
    """The ``format`` of each number property."""
    options: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """The option names of each select and status property."""

    @property
    def title(self) -> str | None:
        """The name of the title property (every data source has one)."""
        return next((name for name, kind in self.types.items() if kind == "title"), None)

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> DataSourceSchema:
        """From ``GET /v1/data_sources/{id}``."""
        types: dict[str, str] = {}
        formats: dict[str, str] = {}
        options: dict[str, tuple[str, ...]] = {}
        for key, prop in dict(data.get("properties") or {}).items():
            if not isinstance(prop, Mapping):
                continue
            name = str(prop.get("name") or key)
            kind = str(prop.get("type") or "")
            types[name] = kind
            config = prop.get(kind)
            if isinstance(config, Mapping):
                if kind == "number" and isinstance(config.get("format"), str):
                    formats[name] = str(config["format"])
                if kind in ("select", "status", "multi_select"):
                    options[name] = tuple(
                        str(o.get("name"))
                        for o in config.get("options") or ()
                        if isinstance(o, Mapping)
                    )
        return cls(
            data_source_id=str(data["id"]),
            types=MappingProxyType(types),
            formats=MappingProxyType(formats),
            options=MappingProxyType(options),
        )


def _units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def split_text(
    text: str, *, limit: int = MAX_TEXT_UNITS, max_parts: int = MAX_TEXT_OBJECTS
) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-16 units (a character is never cut in two),
    at most ``max_parts`` of them; text beyond that is cut and ends with ``…``."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        units = _units(char)
        if size + units > limit:
            parts.append("".join(current))
            current, size = [], 0
            if len(parts) == max_parts:
                parts[-1] = truncate_text(parts[-1] + _ELLIPSIS, limit=limit)
                return parts
        current.append(char)
        size += units
    if current:
        parts.append("".join(current))
    return parts


def truncate_text(text: str, *, limit: int = MAX_TEXT_UNITS) -> str:
    """``text`` cut to at most ``limit`` UTF-16 units, ending with ``…`` when cut."""
    if sum(_units(c) for c in text) <= limit:
        return text
    kept: list[str] = []
    size = _units(_ELLIPSIS)
    for char in text:
        size += _units(char)
        if size > limit:
            break
        kept.append(char)
    return "".join(kept) + _ELLIPSIS


def page_title(job: JobRow) -> str:
    """``<brand> / <dimension values>`` for a campaign job (one with a ``combination_id``
    label), else the job's key."""
    labels = job.labels
    if "combination_id" not in labels:
        return job.key
    parts = [labels.get("brand", ""), *(labels[name] for name in dimension_labels(labels))]
    title = " / ".join(part for part in parts if part)
    return title or job.key


def _asset_url(asset: AssetRow, job: JobRow, batch_name: str, settings: NotionSettings) -> str:
    if settings.public_base_url:
        parts = (batch_name, job.key, asset.path.name)
        return settings.public_base_url + "/" + "/".join(quote(p, safe="") for p in parts)
    return Path(asset.path).resolve().as_uri()


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


def logical_values(
    job: JobRow,
    assets: Sequence[AssetRow],
    *,
    settings: NotionSettings,
    batch_name: str,
    review: Review | None = None,
) -> dict[str, tuple[Kind, Any]]:
    """What each property should say, keyed by the user's property name, before it is shaped
    for the property's type. ``review`` is the job's latest review (``Review``, ``Review
    Note``)."""
    urls = {a.variant: _asset_url(a, job, batch_name, settings) for a in assets}
    cost = job.actual_cost if job.actual_cost is not None else job.estimated_cost
    error = job.error or (job.category.value if job.category is not None else None)
    values: dict[str, tuple[Kind, Any]] = {
        "Name": ("text", page_title(job)),
        "Job ID": ("text", job.id),
        "Batch": ("text", batch_name),
        "Status": ("status", status_name(job.state)),
        "Progress": ("percent", job.progress),
        "Video ID": ("text", job.remote_id),
        "Provider": ("text", job.provider),
        "Model": ("text", job.model),
        "Seconds": ("number", job.seconds),
        "Size": ("text", job.size),
        "Cost": ("number", float(cost) if cost is not None else None),
        "Prompt": ("text", job.prompt),
        "Video": ("url", urls.get(Variant.VIDEO)),
        "Thumbnail": ("url", urls.get(Variant.THUMBNAIL)),
        "Error Type": ("status", error_type(job.category)),
        "Error": ("text", truncate_text(error) if error else None),
        "Updated": ("date", _iso(job.updated_at)),
        "Review": ("status", review_name(review.verdict if review is not None else None)),
        "Review Note": ("text", review.note if review is not None else None),
    }
    for label, default in CAMPAIGN_LABELS.items():
        values[default] = ("text", job.labels.get(label))
    named = {settings.prop(name): value for name, value in values.items()}
    for label, default in _OPTIONAL_LABELS.items():
        if label in job.labels:
            named.setdefault(settings.prop(default), ("text", job.labels[label]))
    for label in dimension_labels(job.labels):
        named.setdefault(settings.prop(dimension_property(label)), ("text", job.labels[label]))
    return named


def page_properties(
    job: JobRow,
    assets: Sequence[AssetRow],
    *,
    schema: DataSourceSchema,
    settings: NotionSettings,
    batch_name: str,
    review: Review | None = None,
) -> dict[str, Any]:
    """The ``properties`` of the job's page, shaped for the data source's property types.

    A property the data source does not have is left out (``reelforge notion init`` adds
    them); so is one whose type cannot hold the value. The title goes to the data source's
    title property whatever it is called.
    """
    wanted = logical_values(job, assets, settings=settings, batch_name=batch_name, review=review)
    title_name = settings.prop("Name")
    if title_name not in schema.types and schema.title is not None:
        wanted[schema.title] = wanted.pop(title_name)
    out: dict[str, Any] = {}
    for name, (kind, value) in wanted.items():
        prop_type = schema.types.get(name)
        if prop_type is None:
            continue
        if (
            prop_type == "status"
            and value is not None
            and value not in schema.options.get(name, ())
        ):
            continue  # the API cannot add status options: leave it rather than fail the page
        shaped = _shape(prop_type, kind, value, schema.formats.get(name))
        if shaped is not _SKIP:
            out[name] = {prop_type: shaped}
    return out


_SKIP = object()


def _option(value: str) -> str:
    # Select option names may not contain commas, and are at most 100 characters.
    return truncate_text(value.replace(",", ";").strip(), limit=100)


def _text(prop_type: str, kind: Kind, value: Any, number_format: str | None) -> Any:
    if value is None or value == "":
        return []
    text = str(value)
    pieces = split_text(text) if prop_type == "rich_text" else [truncate_text(text)]
    return [{"type": "text", "text": {"content": piece}} for piece in pieces]


def _choice(prop_type: str, kind: Kind, value: Any, number_format: str | None) -> Any:
    if kind not in ("text", "status"):
        return _SKIP
    if prop_type == "multi_select":
        return [{"name": _option(str(value))}] if value else []
    if value is None or value == "":
        return None if prop_type == "select" else _SKIP
    return {"name": _option(str(value))}


def _number(prop_type: str, kind: Kind, value: Any, number_format: str | None) -> Any:
    if kind == "percent" and value is not None and number_format == "percent":
        return value / 100
    return value if kind in ("number", "percent") else _SKIP


def _url(prop_type: str, kind: Kind, value: Any, number_format: str | None) -> Any:
    if kind not in ("url", "text"):
        return _SKIP
    if not value or len(str(value)) > MAX_TEXT_UNITS:
        return None  # a cut link would be a wrong one
    return str(value)


def _date(prop_type: str, kind: Kind, value: Any, number_format: str | None) -> Any:
    if kind != "date":
        return _SKIP
    return {"start": value} if value else None


_SHAPERS: Mapping[str, Callable[[str, Kind, Any, str | None], Any]] = MappingProxyType(
    {
        "title": _text,
        "rich_text": _text,
        "select": _choice,
        "status": _choice,
        "multi_select": _choice,
        "number": _number,
        "url": _url,
        "date": _date,
    }
)
"""How a value is written into each property type the sink can use."""


def _shape(prop_type: str, kind: Kind, value: Any, number_format: str | None) -> Any:
    shaper = _SHAPERS.get(prop_type)
    return _SKIP if shaper is None else shaper(prop_type, kind, value, number_format)
