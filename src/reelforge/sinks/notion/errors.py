"""Errors of the Notion sink's setup (the delivery errors are in :mod:`._api`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reelforge.core.errors import ConfigError

__all__ = ["NotionSchemaError", "TypeConflict"]


@dataclass(frozen=True, kw_only=True, slots=True)
class TypeConflict:
    """A property the sink needs exists with a type it cannot use."""

    name: str
    current: str
    expected: tuple[str, ...]

    def __str__(self) -> str:
        return f"property {self.name!r} is {self.current}, expected {' or '.join(self.expected)}"


class NotionSchemaError(ConfigError):
    """The database has properties of the wrong type; nothing was changed.

    reelforge never deletes or retypes a property: rename or retype it in Notion, or map the
    sink's property to another name (``[notion.properties]``), then run ``init`` again.
    """

    def __init__(self, conflicts: Sequence[TypeConflict]) -> None:
        self.conflicts = tuple(conflicts)
        listed = "; ".join(str(c) for c in self.conflicts)
        super().__init__(
            f"the Notion database has {len(self.conflicts)} "
            f"propert{'y' if len(self.conflicts) == 1 else 'ies'} of the wrong type: {listed}. "
            "Nothing was changed: rename or retype them in Notion, or map reelforge's property "
            "to another name in [notion.properties]"
        )
