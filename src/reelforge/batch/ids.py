"""Safe names for batches and job keys, and the stable job id.

Keys and batch names become folder names (``OUT/<batch>/<key>/``) and parts of a durable
workflow id, so both follow one portable rule: 1 to 64 characters from ``A-Z a-z 0-9 . _ -``,
starting with a letter or a digit, without ``..``, not ending with ``.``, and not a Windows
device name (``con``, ``nul``, ``com1`` …). Batch names also may not contain ``--``, the
separator of the job id.
"""

from __future__ import annotations

import re

from reelforge.core import naming
from reelforge.core.errors import InvalidSpecError
from reelforge.core.naming import JOB_ID_SEPARATOR

__all__ = ["SAFE_NAME_PATTERN", "KeyRegistry", "job_id", "name_problem", "slug"]

SAFE_NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
"""The shape of a job key or a batch name (a regular expression)."""


_SAFE_NAME = re.compile(SAFE_NAME_PATTERN)
_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{n}" for n in range(1, 10)}
    | {f"LPT{n}" for n in range(1, 10)}
)
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_DASHES = re.compile(r"-{2,}")
_DOTS = re.compile(r"\.{2,}")


def name_problem(name: str, *, batch: bool = False) -> str | None:
    """Why ``name`` cannot be a key (or, with ``batch=True``, a batch name); ``None`` if it can."""
    rule = f"allowed: {SAFE_NAME_PATTERN}, without '..'"
    if not _SAFE_NAME.fullmatch(name):
        if not name:
            return f"must not be empty; {rule}"
        if len(name) > 64:
            return f"is {len(name)} characters; at most 64 allowed ({rule})"
        return f"{name!r} is not a safe folder name; {rule}"
    checks = (
        (".." in name, "contains '..'"),
        (name.endswith("."), "ends with '.'"),
        (name.split(".", 1)[0].upper() in _DEVICES, "is a reserved device name on Windows"),
        (batch and JOB_ID_SEPARATOR in name, "contains '--', the job id separator"),
    )
    for failed, why in checks:
        if failed:
            return f"{name!r} {why}; {rule}" + (", without '--'" if batch else "")
    return None


def slug(text: str) -> str:
    """A safe batch name made from free text, e.g. a file's stem (``"Spring Launch"`` →
    ``"Spring-Launch"``); ``"batch"`` when nothing usable is left."""
    value = _UNSAFE_RUN.sub("-", text)
    value = _DOTS.sub(".", _DASHES.sub("-", value))
    value = value.lstrip("._-")[:64].rstrip(".-")
    if not value or name_problem(value, batch=True) is not None:
        value = f"batch-{value}"[:64].rstrip(".-")
    return value if name_problem(value, batch=True) is None else "batch"


def job_id(batch_name: str, key: str) -> str:
    """The stable id of a job: ``f"{batch_name}--{key}"``, e.g. ``"spring-launch--kite-01"``.

    Deterministic, readable, at most 130 characters, safe as a path component and as a
    durable workflow id, so enqueueing the same job twice is harmless. It is one-to-one:
    batch names never contain ``--`` and keys start with a letter or a digit, so the first
    ``--`` that is followed by a letter or digit always splits it back. Raises
    :class:`~reelforge.core.errors.InvalidSpecError` for a name or key that is not safe.
    """
    for value, field, is_batch in ((batch_name, "batch", True), (key, "key", False)):
        problem = name_problem(value, batch=is_batch)
        if problem is not None:
            raise InvalidSpecError(
                f"{field}: {problem}", field=field, value=value, allowed=(SAFE_NAME_PATTERN,)
            )
    return naming.job_id(batch_name, key)


class KeyRegistry:
    """Remembers the keys of a batch and refuses duplicates.

    Keys are compared without regard to case, because they become folder names and
    ``Kite`` and ``kite`` are the same folder on macOS and Windows.
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, str]] = {}

    def add(self, key: str, where: str) -> str | None:
        """Record ``key`` used at ``where``; return why it clashes, or ``None``."""
        folded = key.casefold()
        if folded in self._seen:
            first, first_where = self._seen[folded]
            same = "" if first == key else f" (same folder as {first!r}: keys ignore case)"
            return f"duplicate key {key!r}{same}; already used at {first_where}"
        self._seen[folded] = (key, where)
        return None
