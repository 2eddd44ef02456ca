"""``POST /v1/data_sources/{id}/query``: filters (property conditions, ``and``/``or``) and sorts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reelforge.fakenotion.errors import NotionApiError, validation_error
from reelforge.fakenotion.schema import PropertySchema, find_property
from reelforge.fakenotion.values import plain_text

__all__ = ["MAX_FILTER_DEPTH", "Predicate", "Values", "compile_filter", "sort_key"]

MAX_FILTER_DEPTH = 2
"""How deep ``and``/``or`` may nest, like Notion."""

Values = dict[str, dict[str, Any]]
"""A page's stored values, keyed by property id."""
Predicate = Callable[[Values], bool]

_TEXT_TYPES = ("title", "rich_text", "url")
_TEXT_OPS = (
    "equals",
    "does_not_equal",
    "contains",
    "does_not_contain",
    "starts_with",
    "ends_with",
    "is_empty",
    "is_not_empty",
)
_NUMBER_OPS = (
    "equals",
    "does_not_equal",
    "greater_than",
    "less_than",
    "greater_than_or_equal_to",
    "less_than_or_equal_to",
    "is_empty",
    "is_not_empty",
)
_OPTION_OPS = ("equals", "does_not_equal", "is_empty", "is_not_empty")
_MULTI_OPS = ("contains", "does_not_contain", "is_empty", "is_not_empty")
_CHECKBOX_OPS = ("equals", "does_not_equal")
_OPS: dict[str, tuple[str, ...]] = {
    "title": _TEXT_OPS,
    "rich_text": _TEXT_OPS,
    "url": _TEXT_OPS,
    "number": _NUMBER_OPS,
    "select": _OPTION_OPS,
    "status": _OPTION_OPS,
    "multi_select": _MULTI_OPS,
    "checkbox": _CHECKBOX_OPS,
    "date": (
        "equals",
        "before",
        "after",
        "on_or_before",
        "on_or_after",
        "is_empty",
        "is_not_empty",
    ),
}


def compile_filter(
    raw: object, schema: dict[str, PropertySchema], *, path: str = "body.filter", depth: int = 0
) -> Predicate:
    """A predicate over a page's stored values; raises ``validation_error`` like Notion."""
    if not isinstance(raw, dict):
        raise validation_error(path, "an object", raw)
    for compound in ("and", "or"):
        if compound in raw:
            if depth >= MAX_FILTER_DEPTH:
                raise NotionApiError(
                    400,
                    "validation_error",
                    f"body failed validation: {path} nests compound filters deeper than "
                    f"{MAX_FILTER_DEPTH} levels.",
                )
            items = raw[compound]
            if not isinstance(items, list):
                raise validation_error(f"{path}.{compound}", "an array", items)
            parts = [
                compile_filter(item, schema, path=f"{path}.{compound}[{i}]", depth=depth + 1)
                for i, item in enumerate(items)
            ]
            if compound == "and":
                return lambda values: all(part(values) for part in parts)
            return lambda values: any(part(values) for part in parts)
    name = raw.get("property")
    if not isinstance(name, str):
        raise validation_error(f"{path}.property", "a string", name)
    prop = find_property(schema, name)
    if prop is None:
        raise NotionApiError(
            400, "validation_error", f"Could not find property with name or id: {name}"
        )
    kinds = [key for key in raw if key in _OPS]
    if len(kinds) != 1:
        raise validation_error(path, f"an object with a `{prop.type}` condition", raw)
    kind = kinds[0]
    if kind != prop.type and not (kind == "rich_text" and prop.type in _TEXT_TYPES):
        raise NotionApiError(
            400,
            "validation_error",
            f"body failed validation: filter on property {prop.name} of type {prop.type} "
            f"should use `{prop.type}`, instead was `{kind}`.",
        )
    condition = raw[kind]
    if not isinstance(condition, dict) or len(condition) != 1:
        raise validation_error(f"{path}.{kind}", "an object with exactly one condition", condition)
    op, operand = next(iter(condition.items()))
    if op not in _OPS[prop.type]:
        raise validation_error(f"{path}.{kind}.{op}", "a supported condition", op)
    return _condition(f"{path}.{kind}.{op}", prop, op, operand)


def _condition(path: str, prop: PropertySchema, op: str, operand: object) -> Predicate:
    pid = prop.id
    if op in ("is_empty", "is_not_empty"):
        if operand is not True:
            raise validation_error(path, "`true`", operand)
        want_empty = op == "is_empty"
        return lambda values: _is_empty(values.get(pid)) == want_empty
    expected, build = _BUILDERS[prop.type]
    if not _accepts(expected, operand):
        raise validation_error(path, expected, operand)
    return build(pid, op, operand)


def _accepts(expected: str, operand: object) -> bool:
    if expected == "a number":
        return isinstance(operand, int | float) and not isinstance(operand, bool)
    if expected == "a boolean":
        return isinstance(operand, bool)
    return isinstance(operand, str)


def _option(pid: str, op: str, operand: Any) -> Predicate:
    equal = op == "equals"
    return lambda values: (_option_name(values.get(pid)) == operand) == equal


def _multi(pid: str, op: str, operand: Any) -> Predicate:
    contains = op == "contains"
    return lambda values: (operand in _option_names(values.get(pid))) == contains


def _checkbox(pid: str, op: str, operand: Any) -> Predicate:
    equal = op == "equals"
    return lambda values: (_raw(values.get(pid)) is operand) == equal


def _raw(value: dict[str, Any] | None) -> Any:
    if value is None:
        return None
    return value.get(value.get("type", ""))


def _is_empty(value: dict[str, Any] | None) -> bool:
    raw = _raw(value)
    return raw in (None, [], "", False)


def _text_of(value: dict[str, Any] | None) -> str:
    if value is None:
        return ""
    if value.get("type") == "url":
        return str(value.get("url") or "")
    return plain_text(value)


def _text(pid: str, op: str, operand: Any) -> Predicate:
    needle = operand.lower()
    tests: dict[str, Callable[[str], bool]] = {
        "equals": lambda text: text == operand,
        "does_not_equal": lambda text: text != operand,
        "contains": lambda text: needle in text.lower(),
        "does_not_contain": lambda text: needle not in text.lower(),
        "starts_with": lambda text: text.lower().startswith(needle),
        "ends_with": lambda text: text.lower().endswith(needle),
    }
    test = tests[op]
    return lambda values: test(_text_of(values.get(pid)))


def _number(pid: str, op: str, operand: Any) -> Predicate:
    tests: dict[str, Callable[[float], bool]] = {
        "equals": lambda n: n == operand,
        "does_not_equal": lambda n: n != operand,
        "greater_than": lambda n: n > operand,
        "less_than": lambda n: n < operand,
        "greater_than_or_equal_to": lambda n: n >= operand,
        "less_than_or_equal_to": lambda n: n <= operand,
    }
    test = tests[op]

    def check(values: Values) -> bool:
        number = _raw(values.get(pid))
        if number is None:
            return op == "does_not_equal"
        return test(float(number))

    return check


def _date(pid: str, op: str, operand: Any) -> Predicate:
    tests: dict[str, Callable[[str], bool]] = {
        "equals": lambda d: d[:10] == operand[:10],
        "before": lambda d: d < operand,
        "after": lambda d: d > operand,
        "on_or_before": lambda d: d <= operand or d[:10] == operand[:10],
        "on_or_after": lambda d: d >= operand or d[:10] == operand[:10],
    }
    test = tests[op]

    def check(values: Values) -> bool:
        date = _raw(values.get(pid))
        return isinstance(date, dict) and test(str(date.get("start", "")))

    return check


_BUILDERS: dict[str, tuple[str, Callable[[str, str, Any], Predicate]]] = {
    "title": ("a string", _text),
    "rich_text": ("a string", _text),
    "url": ("a string", _text),
    "number": ("a number", _number),
    "select": ("a string", _option),
    "status": ("a string", _option),
    "multi_select": ("a string", _multi),
    "checkbox": ("a boolean", _checkbox),
    "date": ("a valid ISO 8601 date string", _date),
}


def _option_name(value: dict[str, Any] | None) -> str | None:
    raw = _raw(value)
    return str(raw["name"]) if isinstance(raw, dict) else None


def _option_names(value: dict[str, Any] | None) -> list[str]:
    raw = _raw(value)
    return [str(o["name"]) for o in raw] if isinstance(raw, list) else []


def sort_key(
    raw: object, schema: dict[str, PropertySchema], *, path: str
) -> tuple[Callable[[Values, str, str], Any], bool]:
    """A key over (values, created_time, last_edited_time) and ``reverse`` for one sort."""
    if not isinstance(raw, dict):
        raise validation_error(path, "an object", raw)
    direction = raw.get("direction", "ascending")
    if direction not in ("ascending", "descending"):
        raise validation_error(f"{path}.direction", '`"ascending"` or `"descending"`', direction)
    reverse = direction == "descending"
    timestamp = raw.get("timestamp")
    if timestamp is not None:
        if timestamp == "created_time":
            return (lambda _v, created, _e: created), reverse
        if timestamp == "last_edited_time":
            return (lambda _v, _c, edited: edited), reverse
        raise validation_error(
            f"{path}.timestamp", "`created_time` or `last_edited_time`", timestamp
        )
    name = raw.get("property")
    if not isinstance(name, str):
        raise validation_error(f"{path}.property", "a string", name)
    prop = find_property(schema, name)
    if prop is None:
        raise NotionApiError(
            400, "validation_error", f"Could not find sort property with name or id: {name}"
        )
    pid = prop.id

    def key(values: Values, _created: str, _edited: str) -> Any:
        value = values.get(pid)
        if prop.type in ("title", "rich_text", "url"):
            return (0, _text_of(value))
        if prop.type in ("select", "status"):
            return (0, _option_name(value) or "")
        raw_value = _raw(value)
        if prop.type == "date":
            return (0, str(raw_value["start"])) if isinstance(raw_value, dict) else (1, "")
        if raw_value is None:
            return (1, 0)
        return (0, raw_value if not isinstance(raw_value, list) else len(raw_value))

    return key, reverse
