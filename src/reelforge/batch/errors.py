"""Problems found in a batch file, and the error that carries all of them.

A file is checked completely before anything is sent; every problem becomes a
:class:`BatchIssue` naming the file, the line (YAML, JSON syntax, JSONL) or row (CSV), the
field and, where there are any, the allowed values. :class:`BatchFileError` carries them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from reelforge.core.errors import InvalidSpecError

__all__ = ["BatchFileError", "BatchIssue", "IssueListError", "render_issues"]


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchIssue:
    """One problem in a batch, with where it is.

    ``field`` is what is wrong (``"seconds"``, ``"labels.brand"``, ``"key"``, ``"jobs"``, or
    for the file as a whole ``"file"``, ``"file_size"``, ``"extension"``, ``"encoding"``,
    ``"syntax"``, and for CSV ``"header"`` and ``"columns"``). ``pointer`` is the full path
    inside the document (``"jobs[3].seconds"``, ``"defaults.size"``; a column name in CSV).
    ``index`` is the job's 0-based position, when the problem belongs to one job.
    """

    message: str
    field: str
    source: str
    """The file as it was named (or ``"<string>"``, ``"<specs>"``)."""
    pointer: str = ""
    path: Path | None = None
    line: int | None = None
    row: int | None = None
    index: int | None = None
    value: object = None
    allowed: tuple[str, ...] | None = None

    @property
    def location(self) -> str:
        """``"spring.yaml:14"``, ``"spring.csv:row 4"`` or just the source."""
        if self.line is not None:
            return f"{self.source}:{self.line}"
        if self.row is not None:
            return f"{self.source}:row {self.row}"
        return self.source

    def __str__(self) -> str:
        parts = (
            [self.location, self.pointer, self.message]
            if self.pointer
            else [
                self.location,
                self.message,
            ]
        )
        return ": ".join(parts)


class _Issue(Protocol):
    """What :class:`IssueListError` reads from its first issue (frozen dataclasses fit)."""

    @property
    def field(self) -> str: ...
    @property
    def value(self) -> object: ...
    @property
    def allowed(self) -> tuple[str, ...] | None: ...
    @property
    def path(self) -> Path | None: ...
    @property
    def line(self) -> int | None: ...


IssueT = TypeVar("IssueT", bound=_Issue)


class IssueListError(InvalidSpecError, Generic[IssueT]):
    """Every problem found in an input file (exit code 2): ``errors`` lists them; ``field``,
    ``value``, ``allowed``, ``path`` and ``line`` describe the first. The message shows the
    first :attr:`shown` problems, one a line, and how many there are in all."""

    shown = 10

    def __init__(self, errors: Sequence[IssueT]) -> None:
        if not errors:
            raise ValueError(f"{type(self).__name__} needs at least one issue")
        first = errors[0]
        super().__init__(
            render_issues(errors, self.shown),
            field=first.field,
            value=first.value,
            allowed=first.allowed,
        )
        self.errors: list[IssueT] = list(errors)
        self.path = first.path
        self.line = first.line


class BatchFileError(IssueListError[BatchIssue]):
    """A batch file (or a list of specs) is unusable; nothing was sent.

    A subclass of :class:`~reelforge.core.errors.InvalidSpecError` (exit code 2). ``errors``
    lists every problem found; ``path``, ``line``, ``row``, ``index``, ``pointer``,
    ``field``, ``value`` and ``allowed`` describe the first. The message shows the first
    :attr:`shown` problems, one a line, and how many there are in all.
    """

    def __init__(self, errors: Sequence[BatchIssue]) -> None:
        super().__init__(errors)
        first = errors[0]
        self.row = first.row
        self.index = first.index
        self.pointer = first.pointer


def render_issues(errors: Sequence[object], shown: int) -> str:
    """The first ``shown`` problems, one a line, then how many there are in all."""
    lines = [str(issue) for issue in errors[:shown]]
    total = len(errors)
    if total > shown:
        lines.append(f"… and {total - shown} more ({total} errors in all)")
    elif total > 1:
        lines.append(f"({total} errors in all)")
    return "\n".join(lines)
