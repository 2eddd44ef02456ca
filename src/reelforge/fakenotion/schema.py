"""Property schemas of a data source: parsing Notion's create/update shapes, and rendering them.

A schema maps property names to :class:`PropertySchema`. ``PATCH /v1/data_sources/{id}`` with
``{"properties": {...}}`` adds a property (a new name with a type), renames one (``{"name": …}``),
changes its type (another type key) or removes it (``null``), like Notion.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from reelforge.fakenotion.errors import NotionApiError, validation_error

__all__ = [
    "COLORS",
    "NUMBER_FORMATS",
    "PROPERTY_TYPES",
    "PropertySchema",
    "SelectOption",
    "apply_schema_update",
    "copy_schema",
    "find_property",
    "new_option",
    "parse_options",
    "parse_schema",
]

PROPERTY_TYPES = (
    "title",
    "rich_text",
    "number",
    "select",
    "status",
    "multi_select",
    "url",
    "date",
    "checkbox",
)
"""The property types the fake knows."""

NUMBER_FORMATS = (
    "number",
    "number_with_commas",
    "percent",
    "dollar",
    "canadian_dollar",
    "euro",
    "pound",
    "yen",
    "ruble",
    "rupee",
    "won",
    "yuan",
    "real",
    "lira",
    "franc",
    "hong_kong_dollar",
    "new_zealand_dollar",
    "krona",
    "norwegian_krone",
    "mexican_peso",
    "rand",
    "new_taiwan_dollar",
    "danish_krone",
    "zloty",
    "baht",
    "forint",
    "koruna",
    "shekel",
    "chilean_peso",
    "philippine_peso",
    "dirham",
    "colombian_peso",
    "riyal",
    "ringgit",
    "leu",
    "argentine_peso",
    "uruguayan_peso",
    "singapore_dollar",
)
"""Notion's number formats."""

COLORS = (
    "default",
    "gray",
    "brown",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "red",
)
"""Option colours."""

_OPTION_TYPES = ("select", "status", "multi_select")
_DEFAULT_STATUS = (("Not started", "default"), ("In progress", "blue"), ("Done", "green"))
_MAX_NAME = 100


@dataclass(slots=True)
class SelectOption:
    """One option of a select, multi-select or status property."""

    id: str
    name: str
    color: str = "default"

    def to_json(self) -> dict[str, Any]:
        """The option as Notion renders it in a schema."""
        return {"id": self.id, "name": self.name, "color": self.color, "description": None}

    def to_value(self) -> dict[str, Any]:
        """The option as Notion renders it in a page's property value."""
        return {"id": self.id, "name": self.name, "color": self.color}


@dataclass(slots=True)
class PropertySchema:
    """One property of a data source."""

    id: str
    name: str
    type: str
    number_format: str = "number"
    options: list[SelectOption] = field(default_factory=list)

    def option(
        self, *, name: str | None = None, option_id: str | None = None
    ) -> SelectOption | None:
        """The option with this name or id, if there is one."""
        for option in self.options:
            if (name is not None and option.name == name) or (
                option_id is not None and option.id == option_id
            ):
                return option
        return None

    def config_json(self) -> dict[str, Any]:
        """The type-specific configuration object (``{"format": …}``, ``{"options": […]}``…)."""
        if self.type == "number":
            return {"format": self.number_format}
        if self.type == "status":
            return {"options": [o.to_json() for o in self.options], "groups": self._groups()}
        if self.type in _OPTION_TYPES:
            return {"options": [o.to_json() for o in self.options]}
        return {}

    def _groups(self) -> list[dict[str, Any]]:
        ids = [o.id for o in self.options]
        return [
            {"id": "todo", "name": "To-do", "color": "gray", "option_ids": ids[:1]},
            {"id": "in_progress", "name": "In progress", "color": "blue", "option_ids": ids[1:-1]},
            {"id": "complete", "name": "Complete", "color": "green", "option_ids": ids[-1:]},
        ]

    def to_json(self) -> dict[str, Any]:
        """The property as ``GET /v1/data_sources/{id}`` renders it."""
        return {
            "id": self.id,
            "name": self.name,
            "description": "",
            "type": self.type,
            self.type: self.config_json(),
        }


def _property_id() -> str:
    return secrets.token_urlsafe(3)


def new_option(name: str, color: str = "default") -> SelectOption:
    """A new option with a fresh id."""
    return SelectOption(
        id=secrets.token_hex(2) + "-" + secrets.token_hex(2), name=name, color=color
    )


def _check_name(path: str, name: object) -> str:
    if not isinstance(name, str):
        raise validation_error(path, "a string", name)
    if not name.strip():
        raise NotionApiError(400, "validation_error", "Property names cannot be empty.")
    if len(name) > _MAX_NAME:
        raise validation_error(f"{path}.length", f"≤ `{_MAX_NAME}`", len(name))
    return name


def parse_options(path: str, raw: object, *, what: str) -> list[SelectOption]:
    """``[{"name": …, "color": …}, …]`` into options (ids are new)."""
    if not isinstance(raw, list):
        raise validation_error(path, "an array", raw)
    options: list[SelectOption] = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise validation_error(where, "an object", item)
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise validation_error(f"{where}.name", "a non-empty string", name)
        if "," in name:
            raise NotionApiError(
                400, "validation_error", f"Invalid {what} option, commas not allowed: {name}"
            )
        if len(name) > _MAX_NAME:
            raise validation_error(f"{where}.name.length", f"≤ `{_MAX_NAME}`", len(name))
        color = item.get("color", "default")
        if color not in COLORS:
            raise validation_error(f"{where}.color", "a valid option color", color)
        if any(o.name == name for o in options):
            raise NotionApiError(
                400, "validation_error", f"Duplicate {what} option names are not allowed: {name}"
            )
        options.append(new_option(name, color))
    return options


def _type_of(path: str, spec: dict[str, Any]) -> str | None:
    """The property type a create/update object names, if any."""
    declared = spec.get("type")
    keys = [key for key in spec if key in PROPERTY_TYPES]
    if declared is not None:
        if declared not in PROPERTY_TYPES:
            raise validation_error(f"{path}.type", "a supported property type", declared)
        return str(declared)
    if len(keys) > 1:
        raise validation_error(path, "an object with exactly one property type key", sorted(keys))
    if keys:
        return keys[0]
    unknown = [key for key in spec if key not in ("name", "description", "id")]
    if unknown:
        raise validation_error(f"{path}.{unknown[0]}", "a supported property type", unknown[0])
    return None


def _configure(
    path: str, prop: PropertySchema, kind: str, spec: dict[str, Any], *, fresh: bool = False
) -> None:
    """Set ``prop``'s type to ``kind`` with the configuration in ``spec[kind]``.

    On a property that already has this type, only what ``spec`` states changes (a missing
    ``format`` or ``options`` keeps the current one), and options keep their ids by name.
    """
    raw = spec.get(kind, {})
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise validation_error(f"{path}.{kind}", "an object", raw)
    same = not fresh and prop.type == kind
    if not same:
        prop.type = kind
        prop.options = []
        prop.number_format = "number"
    if kind == "number" and ("format" in raw or not same):
        fmt = raw.get("format", "number")
        if fmt not in NUMBER_FORMATS:
            raise validation_error(f"{path}.number.format", "a supported number format", fmt)
        prop.number_format = str(fmt)
    elif kind in _OPTION_TYPES:
        what = "status" if kind == "status" else "select"
        if "options" in raw:
            options = parse_options(f"{path}.{kind}.options", raw["options"], what=what)
            for option in options:
                kept = prop.option(name=option.name)
                if kept is not None:
                    option.id = kept.id
            prop.options = options
        elif kind == "status" and not same:
            prop.options = [new_option(name, color) for name, color in _DEFAULT_STATUS]


def parse_schema(raw: object, *, path: str = "body.properties") -> dict[str, PropertySchema]:
    """A whole schema (for a new data source); it must have exactly one ``title`` property."""
    if not isinstance(raw, dict):
        raise validation_error(path, "an object", raw)
    schema: dict[str, PropertySchema] = {}
    apply_schema_update(schema, raw, path=path, creating=True)
    titles = [p for p in schema.values() if p.type == "title"]
    if len(titles) != 1:
        raise NotionApiError(
            400,
            "validation_error",
            f"A data source must have exactly one title property, instead had {len(titles)}.",
        )
    return schema


def _error(message: str) -> NotionApiError:
    return NotionApiError(400, "validation_error", message)


_ONE_TITLE = "Cannot create new title property. A data source can have only one title."


def apply_schema_update(
    schema: dict[str, PropertySchema],
    raw: dict[str, Any],
    *,
    path: str = "body.properties",
    creating: bool = False,
) -> None:
    """Apply ``{"properties": raw}`` of a data source update to ``schema`` (in place).

    Validates everything before changing anything: a failed update leaves ``schema`` intact.
    """
    staged = {name: _copy_property(prop) for name, prop in schema.items()}
    for key, spec in raw.items():
        where = f"{path}.{key}"
        existing = _find(staged, key)
        if spec is None:
            _remove(staged, key, existing)
            continue
        if not isinstance(spec, dict):
            raise validation_error(where, "an object or `null`", spec)
        kind = _type_of(where, spec)
        if existing is None:
            _add(staged, key, where, kind, spec, creating=creating)
        else:
            _change(staged, existing, where, kind, spec)
    schema.clear()
    schema.update(staged)


def _remove(staged: dict[str, PropertySchema], key: str, existing: PropertySchema | None) -> None:
    if existing is None:
        raise _error(f"{key} is not a property that exists.")
    if existing.type == "title":
        raise _error("Cannot delete the title property of a data source.")
    del staged[existing.name]


def _add(
    staged: dict[str, PropertySchema],
    key: str,
    where: str,
    kind: str | None,
    spec: dict[str, Any],
    *,
    creating: bool,
) -> None:
    if kind is None:
        raise _error(f"{key} is not a property that exists.")
    if kind == "title" and not creating:
        raise _error(_ONE_TITLE)
    name = _check_name(f"{where}.name", spec.get("name", key))
    if name in staged:
        raise _error(f"A property named {name} already exists.")
    prop = PropertySchema(id="title" if kind == "title" else _property_id(), name=name, type=kind)
    _configure(where, prop, kind, spec, fresh=True)
    staged[name] = prop


def _change(
    staged: dict[str, PropertySchema],
    existing: PropertySchema,
    where: str,
    kind: str | None,
    spec: dict[str, Any],
) -> None:
    if kind is not None:
        if existing.type == "title" and kind != "title":
            raise _error("Cannot change the type of the title property of a data source.")
        if kind == "title" and existing.type != "title":
            raise _error(_ONE_TITLE)
        _configure(where, existing, kind, spec)
    if "name" in spec:
        new_name = _check_name(f"{where}.name", spec["name"])
        if new_name != existing.name:
            if new_name in staged:
                raise _error(f"A property named {new_name} already exists.")
            del staged[existing.name]
            existing.name = new_name
            staged[new_name] = existing


def _copy_property(prop: PropertySchema) -> PropertySchema:
    return PropertySchema(
        id=prop.id,
        name=prop.name,
        type=prop.type,
        number_format=prop.number_format,
        options=[SelectOption(id=o.id, name=o.name, color=o.color) for o in prop.options],
    )


def _find(schema: dict[str, PropertySchema], key: str) -> PropertySchema | None:
    """The property named ``key``, or whose id is ``key`` (Notion accepts both)."""
    if key in schema:
        return schema[key]
    for prop in schema.values():
        if prop.id == key:
            return prop
    return None


def find_property(schema: dict[str, PropertySchema], key: str) -> PropertySchema | None:
    """The property named ``key`` or with id ``key``."""
    return _find(schema, key)


def copy_schema(schema: dict[str, PropertySchema]) -> dict[str, PropertySchema]:
    """A deep copy, to validate a request against before committing its changes."""
    return {name: _copy_property(prop) for name, prop in schema.items()}
