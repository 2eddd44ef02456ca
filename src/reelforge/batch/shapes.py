"""The shapes of a batch document, as strict pydantic models, and their errors in words.

Types are strict: a prompt must be a string, ``labels`` a flat mapping. Two coercions are
deliberate: ``seconds`` accepts a whole number or a string of digits (CSV cells are text), and
label values may be numbers (stored as text). Booleans and fractions are refused everywhere.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

__all__ = [
    "DOCUMENT_FIELDS",
    "DefaultsShape",
    "JobShape",
    "Loc",
    "ShapeError",
    "kind",
    "shape_errors",
]

Loc = tuple[str | int, ...]
"""A path inside a document: ``("jobs", 3, "seconds")``."""

DOCUMENT_FIELDS = ("batch", "defaults", "jobs")
"""The top-level fields of a YAML or JSON batch."""

_DIGITS = re.compile(r"[0-9]{1,9}")


def kind(value: object) -> str:
    """A short, user-facing description of a value: ``"number 8.5"``, ``"boolean true"``."""
    if isinstance(value, bool) or value is None:
        return "null" if value is None else f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value if len(value) <= 40 else value[:37] + '...'!r}"
    return _KINDS.get(type(value), type(value).__name__)


_KINDS: dict[type, str] = {dict: "a mapping", list: "a list"}


def _seconds(value: object) -> object:
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise PydanticCustomError(
        "seconds_type", "must be a whole number of seconds, got {got}", {"got": kind(value)}
    )


def _label_value(value: object) -> object:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise PydanticCustomError("label_type", "must be text or a finite number")
        return str(value)
    raise PydanticCustomError(
        "label_type",
        "must be text or a number, got {got} (labels map names to text)",
        {"got": kind(value)},
    )


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _audio(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise PydanticCustomError(
        "audio_type", "must be true or false, got {got}", {"got": kind(value)}
    )


def _seed(value: object) -> object:
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value.strip()):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise PydanticCustomError(
        "seed_type", "must be a whole number, got {got}", {"got": kind(value)}
    )


def _params(value: object) -> object:
    if isinstance(value, str):  # a CSV cell: JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise PydanticCustomError(
                "params_type", "must be a JSON object of the model's own input fields"
            ) from None
    if isinstance(value, dict) and all(isinstance(k, str) and k for k in value):
        return value
    raise PydanticCustomError(
        "params_type",
        "must be a mapping of the model's own input fields, got {got}",
        {"got": kind(value)},
    )


_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_Seconds = Annotated[int, BeforeValidator(_seconds)]
_Audio = Annotated[bool, BeforeValidator(_audio)]
_Seed = Annotated[int, BeforeValidator(_seed)]
_Params = Annotated[dict[str, Any], BeforeValidator(_params)]
_LabelName = Annotated[str, StringConstraints(min_length=1)]
_LabelValue = Annotated[str, BeforeValidator(_label_value)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DefaultsShape(_Shape):
    """``defaults:``: values every job takes unless it sets its own."""

    provider: _Name | None = None
    model: _Name | None = None
    seconds: _Seconds | None = None
    size: _Name | None = None
    aspect_ratio: _Name | None = None
    resolution: _Name | None = None
    audio: _Audio | None = None
    image: _Name | None = None
    end_image: _Name | None = None
    negative_prompt: _Name | None = None
    seed: _Seed | None = None
    input_reference: _Name | None = None
    params: _Params | None = None
    labels: dict[_LabelName, _LabelValue] | None = None


class JobShape(DefaultsShape):
    """One entry of ``jobs:`` (a JSONL line, a CSV row)."""

    prompt: str
    key: _Name | None = None


_MESSAGES = {
    "missing": "is required",
    "string_too_short": "must not be empty",
}
_EXPECTED = {
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


class ShapeError(NamedTuple):
    """One pydantic error, in the words a batch file's author needs."""

    loc: Loc
    field: str
    message: str
    value: object
    allowed: tuple[str, ...] | None


def shape_errors(exc: ValidationError, known: tuple[str, ...]) -> Iterator[ShapeError]:
    """Each error of ``exc``; ``known`` lists the model's fields, for an unknown one."""
    for error in exc.errors(include_url=False):
        yield _one(error, known)


def _one(error: ErrorDetails, known: tuple[str, ...]) -> ShapeError:
    loc: Loc = tuple(error["loc"])
    value = error.get("input")
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
        message = f"label names must be non-empty strings, got {kind(value)}"
        return ShapeError(loc, _dotted(loc), message, value, None)
    field = _dotted(loc)
    type_ = error["type"]
    if type_ == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}; known fields: {', '.join(known)}"
        return ShapeError(loc, field, message, value, known)
    if type_ in _MESSAGES:
        return ShapeError(loc, field, _MESSAGES[type_], value, None)
    if type_ in _EXPECTED:
        return ShapeError(loc, field, f"must be {_EXPECTED[type_]}, got {kind(value)}", value, None)
    return ShapeError(loc, field, error["msg"], value, None)


def _dotted(loc: Loc) -> str:
    return ".".join(str(part) for part in loc)
