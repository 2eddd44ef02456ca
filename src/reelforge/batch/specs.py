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

SPEC_FIELDS = ("provider", "model", "seconds", "size", "input_reference")
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


def _neutral(spec: JobSpec, field: str, seen: set[str]) -> JobSpec | None:
    """``spec`` with ``field`` set to a value its model accepts (``None``: give up)."""
    if field in seen:
        return None
    caps = capabilities_for(spec.model, spec.provider)
    if field == "prompt":
        return replace(spec, prompt="x")
    if field == "seconds":
        return replace(spec, seconds=caps.seconds[0] if caps.known else caps.default_seconds)
    if field == "size":
        return replace(spec, size=caps.sizes[0] if caps.known else caps.default_size)
    if field == "input_reference":
        return replace(spec, input_reference=None)
    return None


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
