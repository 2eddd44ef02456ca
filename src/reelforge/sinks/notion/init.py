"""``init_database``: add the properties the sink needs to a Notion database, in one request.

It never deletes or retypes a property. A property with a needed name and an unusable type
stops it before anything is sent (:class:`NotionSchemaError`); missing select options are added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from notion_client import AsyncClient

from reelforge.core.errors import ConfigError
from reelforge.sinks.notion._api import NotionApi
from reelforge.sinks.notion.errors import NotionSchemaError, TypeConflict
from reelforge.sinks.notion.limiter import RateLimiter
from reelforge.sinks.notion.properties import DataSourceSchema
from reelforge.sinks.notion.schema import REQUIRED, PropertySpec, dimension_spec
from reelforge.sinks.notion.settings import NotionSettings

__all__ = ["InitReport", "find_data_source", "init_database", "read_schema", "wanted_specs"]


@dataclass(frozen=True, kw_only=True, slots=True)
class InitReport:
    """What :func:`init_database` found and changed (or, with ``dry_run``, would change)."""

    database_id: str
    data_source_id: str
    data_source_name: str | None
    added: tuple[str, ...]
    """Properties added, by name, in column order."""
    options_added: Mapping[str, tuple[str, ...]] = field(hash=False)
    """Select options added to existing properties."""
    present: tuple[str, ...]
    """Needed properties that were already there with a usable type."""
    notes: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        """Whether the database was changed."""
        return not self.dry_run and bool(self.added or self.options_added)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "database_id": self.database_id,
            "data_source_id": self.data_source_id,
            "data_source_name": self.data_source_name,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "added": list(self.added),
            "options_added": {k: list(v) for k, v in self.options_added.items()},
            "present": list(self.present),
            "notes": list(self.notes),
        }


async def find_data_source(api: NotionApi, settings: NotionSettings) -> tuple[str, str | None]:
    """The id and name of the data source to write to: the configured one, or the database's
    only one. :class:`ConfigError` when there is no clear choice."""
    _, database_id = settings.require()
    database = await api.call("GET", f"databases/{database_id}", what=f"database {database_id}")
    sources = [s for s in database.get("data_sources") or () if isinstance(s, Mapping)]
    if settings.data_source_id is not None:
        for source in sources:
            if _same_id(str(source.get("id")), settings.data_source_id):
                return str(source["id"]), _name(source)
        raise ConfigError(
            f"the Notion database {database_id} has no data source {settings.data_source_id} "
            f"(NOTION_DATA_SOURCE_ID); it has: {_listing(sources)}"
        )
    if len(sources) == 1:
        return str(sources[0]["id"]), _name(sources[0])
    if not sources:
        raise ConfigError(f"the Notion database {database_id} has no data source")
    raise ConfigError(
        f"the Notion database {database_id} has {len(sources)} data sources: "
        f"{_listing(sources)}; choose one with NOTION_DATA_SOURCE_ID"
    )


async def read_schema(api: NotionApi, data_source_id: str) -> dict[str, Any]:
    """``GET /v1/data_sources/{id}``: the data source with its ``properties``."""
    return await api.call(
        "GET", f"data_sources/{data_source_id}", what=f"data source {data_source_id}"
    )


def wanted_specs(settings: NotionSettings, dimensions: Sequence[str] = ()) -> list[PropertySpec]:
    """Every property the sink needs, under the user's names, then one per dimension."""
    specs: list[PropertySpec] = []
    seen: set[str] = set()
    for spec in [*REQUIRED, *(dimension_spec(d) for d in dimensions)]:
        name = settings.prop(spec.name)
        if name in seen:
            continue
        seen.add(name)
        specs.append(
            PropertySpec(name=name, type=spec.type, accepts=spec.accepts, config=spec.config)
        )
    return specs


async def init_database(
    client: AsyncClient,
    settings: NotionSettings,
    *,
    dimensions: Sequence[str] = (),
    dry_run: bool = False,
    limiter: RateLimiter | None = None,
) -> InitReport:
    """Add every missing property (and missing select option) with one ``PATCH``.

    ``dimensions`` are a campaign's dimension names (one text property each). With
    ``dry_run``, only report. Raises :class:`NotionSchemaError`, changing nothing, when a needed
    property has a type the sink cannot use; :class:`ConfigError` when the data source is
    ambiguous; the delivery errors of :mod:`reelforge.sinks.notion` when Notion fails.
    """
    _, database_id = settings.require()
    api = NotionApi(client, limiter or RateLimiter())
    data_source_id, data_source_name = await find_data_source(api, settings)
    raw = await read_schema(api, data_source_id)
    schema = DataSourceSchema.from_response(raw)
    raw_props = {
        str(p.get("name") or k): p
        for k, p in dict(raw.get("properties") or {}).items()
        if isinstance(p, Mapping)
    }
    conflicts: list[TypeConflict] = []
    additions: dict[str, Any] = {}
    added: list[str] = []
    options_added: dict[str, tuple[str, ...]] = {}
    present: list[str] = []
    notes: list[str] = []
    for spec in wanted_specs(settings, dimensions):
        current = schema.types.get(spec.name)
        if current is None:
            if spec.type == "title" and schema.title is not None:
                notes.append(
                    f"the title property is {schema.title!r}: page titles are written there"
                )
                continue
            additions[spec.name] = spec.create_body()
            added.append(spec.name)
            continue
        if current not in spec.accepts:
            conflicts.append(
                TypeConflict(name=spec.name, current=current, expected=tuple(sorted(spec.accepts)))
            )
            continue
        present.append(spec.name)
        missing = [o for o in spec.options if o not in schema.options.get(spec.name, ())]
        if not missing:
            continue
        if current == "status":
            notes.append(
                f"{spec.name!r} is a status property: add the options {', '.join(missing)} in "
                "Notion (the API cannot)"
            )
        elif current == "select":
            additions[spec.name] = {"select": {"options": _options(raw_props[spec.name], missing)}}
            options_added[spec.name] = tuple(missing)
    if conflicts:
        raise NotionSchemaError(conflicts)
    if additions and not dry_run:
        await api.call(
            "PATCH",
            f"data_sources/{data_source_id}",
            {"properties": additions},
            what=f"update data source {data_source_id}",
        )
    return InitReport(
        database_id=database_id,
        data_source_id=data_source_id,
        data_source_name=data_source_name,
        added=tuple(added),
        options_added=MappingProxyType(options_added),
        present=tuple(present),
        notes=tuple(notes),
        dry_run=dry_run,
    )


def _options(prop: Mapping[str, Any], missing: Sequence[str]) -> list[dict[str, Any]]:
    """The property's options as they are, then the missing ones (Notion replaces the list)."""
    config = prop.get("select") or {}
    kept = [
        {k: v for k, v in option.items() if k in ("id", "name", "color") and v is not None}
        for option in config.get("options") or ()
        if isinstance(option, Mapping)
    ]
    return kept + [{"name": name} for name in missing]


def _same_id(left: str, right: str) -> bool:
    return left.replace("-", "").lower() == right.replace("-", "").lower()


def _name(source: Mapping[str, Any]) -> str | None:
    name = source.get("name")
    return str(name) if name else None


def _listing(sources: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{s.get('id')} ({s.get('name') or 'unnamed'})" for s in sources) or "none"
