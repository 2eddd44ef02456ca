"""Every capability problem of a spec at once, worded for a batch file.

:func:`~reelforge.core.capabilities.validate_spec` stops at the first problem. To report them
all, :func:`spec_problems` validates again with each offending field replaced by a value the
model accepts, until nothing is left to report.
"""

from __future__ import annotations

from dataclasses import replace

from reelforge.core.capabilities import capabilities_for, validate_spec
from reelforge.core.errors import InvalidSpecError
from reelforge.core.models import JobSpec

__all__ = ["SPEC_FIELDS", "describe", "spec_problems"]

SPEC_FIELDS = (
    "provider",
    "model",
    "seconds",
    "size",
    "aspect_ratio",
    "resolution",
    "audio",
    "image",
    "end_image",
    "negative_prompt",
    "seed",
    "input_reference",
    "params",
)
"""The fields a job may take from the batch's defaults."""


def spec_problems(spec: JobSpec) -> tuple[JobSpec | None, list[InvalidSpecError]]:
    """Validate ``spec``; return it with its size resolved, or ``None`` and every problem."""
    problems: list[InvalidSpecError] = []
    current = spec
    while True:
        try:
            valid = validate_spec(current)
        except InvalidSpecError as exc:
            problems.append(exc)
            neutral = _neutral(current, exc.field, {p.field for p in problems[:-1]})
            if neutral is None:
                return None, problems
            current = neutral
        else:
            return (None if problems else valid), problems


_CLEARED: dict[str, dict[str, object]] = {
    "input_reference": {"input_reference": None},
    "aspect_ratio": {"aspect_ratio": None},
    "resolution": {"resolution": None},
    "audio": {"audio": None},
    "end_image": {"end_image": None},
    "seed": {"seed": None},
    "negative_prompt": {"negative_prompt": None},
    "params": {"params": {}},
    "prompt": {"prompt": "x"},
}
"""Field → the change that takes it out of the way (its default or a harmless value)."""


def _neutral(spec: JobSpec, field: str, seen: set[str]) -> JobSpec | None:
    """``spec`` with ``field`` set to a value its model accepts (``None``: give up)."""
    if field in seen:
        return None
    caps = capabilities_for(spec.model, spec.provider)
    changes: dict[str, object] | None = _CLEARED.get(field)
    if field == "seconds":
        changes = {"seconds": caps.seconds[0] if caps.known else caps.default_seconds}
    elif field == "size":
        changes = {"size": caps.sizes[0] if caps.known and caps.sizes else caps.default_size}
    elif field == "image":  # given where none is taken, or required and missing
        changes = {"image": None if spec.image is not None else _PLACEHOLDER_IMAGE}
    return None if changes is None else replace(spec, **changes)  # type: ignore[arg-type]


_PLACEHOLDER_IMAGE = "https://example.invalid/first-frame.png"


def describe(exc: InvalidSpecError, spec: JobSpec, reference: str | None) -> str:
    """The message for ``exc`` without the field name in front (the location names it).

    ``reference`` is the ``input_reference`` as it was written, before it was resolved.
    """
    if exc.field == "prompt" and not spec.prompt.strip():
        return "must not be empty"
    if exc.field == "input_reference" and spec.input_reference is not None:
        shown = reference if reference is not None else str(spec.input_reference)
        return f"{shown!r} does not exist or is not a file (looked for {spec.input_reference})"
    message = exc.message
    for prefix in (f"{exc.field}: ", f"{exc.field} "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message
