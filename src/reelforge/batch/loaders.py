"""Reading a batch file into plain data with positions, format by format.

Nothing here judges the content; :mod:`reelforge.batch.build` does. A loader turns text into
a :class:`Parsed` document: the data (JSONL and CSV are given the ``{"jobs": [...]}`` shape
of YAML and JSON), the line or row of every path it knows, and the problems that stop
parsing (syntax, duplicate keys, a CSV header without ``prompt``, a ragged row).

Formats, chosen by the file's extension:

- YAML (``.yaml``, ``.yml``) and JSON (``.json``): a mapping with ``batch`` (optional),
  ``defaults`` (optional) and ``jobs`` (a list of job mappings).
- JSONL (``.jsonl``): one job object a line; blank lines are skipped. No ``batch`` or
  ``defaults``: the batch is named after the file.
- CSV (``.csv``): comma-separated, a header row, then one job a row. Columns ``prompt``
  (required), ``key``, ``provider``, ``model``, ``seconds``, ``size``, ``aspect_ratio``,
  ``resolution``, ``audio``, ``image``, ``end_image``, ``negative_prompt``, ``seed``,
  ``input_reference``, ``params`` (a JSON object) and ``label.<name>``. An empty cell means
  "not set" (for labels: no such label). Rows are
  counted like a spreadsheet's: the header is row 1.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from reelforge.batch.errors import BatchIssue
from reelforge.batch.shapes import Loc, kind
from reelforge.batch.yamlio import YamlSyntaxError, load_yaml

__all__ = [
    "CSV_COLUMNS",
    "EXTENSIONS",
    "SKIPPED",
    "Parsed",
    "format_for",
    "parse_text",
]

EXTENSIONS: Final = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".yaml": "yaml",
    ".yml": "yaml",
}
"""File extensions and the format each one means."""

CSV_COLUMNS = (
    "prompt",
    "key",
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
"""The fixed CSV columns; ``label.<name>`` columns add labels."""

_LABEL_PREFIX = "label."
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
SKIPPED: Final = object()
"""Stands in a job list for a JSONL line or CSV row that could not be parsed (already reported)."""


@dataclass(kw_only=True)
class Parsed:
    """A batch text parsed into plain data, before validation."""

    format: str
    source: str
    path: Path | None
    data: object = None
    lines: dict[Loc, int] = field(default_factory=dict)
    rows: dict[Loc, int] = field(default_factory=dict)
    issues: list[BatchIssue] = field(default_factory=list)

    def issue(
        self,
        loc: Loc,
        message: str,
        *,
        field: str | None = None,
        value: object = None,
        allowed: tuple[str, ...] | None = None,
        line: int | None = None,
        row: int | None = None,
    ) -> BatchIssue:
        """A :class:`BatchIssue` at ``loc``, located by the nearest path with a position."""
        index = loc[1] if len(loc) > 1 and loc[0] == "jobs" and isinstance(loc[1], int) else None
        return BatchIssue(
            message=message,
            field=field if field is not None else _field_of(loc),
            source=self.source,
            pointer=self.pointer(loc),
            path=self.path,
            line=line if line is not None else _nearest(self.lines, loc),
            row=row if row is not None else _nearest(self.rows, loc),
            index=index,
            value=value,
            allowed=allowed,
        )

    def pointer(self, loc: Loc) -> str:
        """``jobs[3].labels.brand``; in CSV the column, ``label.brand``."""
        if self.format == "csv" and len(loc) >= 2 and loc[0] == "jobs":
            rest = loc[2:]
            if not rest:  # the row itself: its number says it all
                return ""
            if rest[0] == "labels" and len(rest) == 2:
                return f"{_LABEL_PREFIX}{rest[1]}"
            return ".".join(str(part) for part in rest)
        text = ""
        for part in loc:
            if isinstance(part, int):
                text += f"[{part}]"
            elif not _PLAIN.fullmatch(part):
                text += f"[{part!r}]"
            else:
                text += f".{part}" if text else part
        return text

    def location(self, index: int) -> str:
        """Where job ``index`` is: ``spring.yaml:12``, ``spring.csv:row 3``, ``x.json:jobs[3]``."""
        loc: Loc = ("jobs", index)
        if loc in self.lines:
            return f"{self.source}:{self.lines[loc]}"
        if loc in self.rows:
            return f"{self.source}:row {self.rows[loc]}"
        return f"{self.source}:jobs[{index}]"


def _nearest(positions: dict[Loc, int], loc: Loc) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in positions:
            return positions[loc[:end]]
    return None


def _field_of(loc: Loc) -> str:
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "jobs" and isinstance(parts[1], int):
        parts = parts[2:] or ["jobs"]
    elif len(parts) >= 2 and parts[0] == "defaults":
        parts = parts[1:]
    return ".".join(str(part) for part in parts)


def format_for(path: Path) -> str | None:
    """The format a file's extension means (case-insensitive), or ``None``."""
    return EXTENSIONS.get(path.suffix.lower())


def parse_text(text: str, *, format: str, source: str, path: Path | None) -> Parsed:
    """Parse ``text`` as ``format`` (``yaml``, ``json``, ``jsonl`` or ``csv``)."""
    parsed = Parsed(format=format, source=source, path=path)
    _PARSERS[format](text, parsed)
    return parsed


def _parse_yaml(text: str, parsed: Parsed) -> None:
    try:
        document = load_yaml(text)
    except YamlSyntaxError as exc:
        parsed.issues.append(parsed.issue((), exc.message, field="syntax", line=exc.line))
        return
    parsed.data = document.data
    parsed.lines = document.lines
    for loc, line, first in document.duplicates:
        message = f"duplicate key {loc[-1]!r}; first set on line {first}"
        parsed.issues.append(parsed.issue(loc, message, line=line))


class _Duplicates(dict[str, Any]):
    """A JSON object that remembers the keys it saw more than once."""

    duplicates: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> _Duplicates:
    obj = _Duplicates()
    seen: list[str] = []
    for key, value in pairs:
        if key in obj:
            seen.append(key)
        obj[key] = value
    obj.duplicates = tuple(seen)
    return obj


class _Constant(ValueError):
    pass


def _constant(name: str) -> object:
    raise _Constant(f"{name} is not a JSON number")


def _loads(text: str) -> object:
    return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)


def _plain(value: object, loc: Loc, parsed: Parsed) -> object:
    """``value`` with plain dicts, reporting every duplicate key on the way."""
    if isinstance(value, _Duplicates):
        for key in dict.fromkeys(value.duplicates):
            parsed.issues.append(parsed.issue((*loc, key), f"duplicate key {key!r}"))
        return {key: _plain(item, (*loc, key), parsed) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, (*loc, index), parsed) for index, item in enumerate(value)]
    return value


def _json_problem(exc: Exception) -> tuple[str, int | None]:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno
    if isinstance(exc, RecursionError):
        return "invalid JSON: nested too deeply", None
    return f"invalid JSON: {exc}", None


def _parse_json(text: str, parsed: Parsed) -> None:
    try:
        data = _loads(text)
    except (ValueError, RecursionError) as exc:
        message, line = _json_problem(exc)
        parsed.issues.append(parsed.issue((), message, field="syntax", line=line))
        return
    parsed.data = _plain(data, (), parsed)


def _parse_jsonl(text: str, parsed: Parsed) -> None:
    jobs: list[object] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        loc: Loc = ("jobs", len(jobs))
        parsed.lines[loc] = number
        try:
            item = _loads(line)
        except (ValueError, RecursionError) as exc:
            message, _ = _json_problem(exc)
            parsed.issues.append(parsed.issue(loc, message, field="syntax"))
            jobs.append(SKIPPED)
            continue
        if not isinstance(item, dict):
            message = f"must be a JSON object (one job a line), got {kind(item)}"
            parsed.issues.append(parsed.issue(loc, message, field="jobs"))
            jobs.append(SKIPPED)
            continue
        jobs.append(_plain(item, loc, parsed))
    parsed.data = {"jobs": jobs}


def _parse_csv(text: str, parsed: Parsed) -> None:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        records = list(reader)
    except csv.Error as exc:
        message = f"invalid CSV: {exc}"
        parsed.issues.append(parsed.issue((), message, field="syntax", line=reader.line_num))
        return
    known = (*CSV_COLUMNS, f"{_LABEL_PREFIX}<name>")
    if not records or not any(cell.strip() for cell in records[0]):
        message = f"no header row; expected columns: {', '.join(known)}"
        parsed.issues.append(parsed.issue((), message, field="header", allowed=known))
        return
    header = [cell.strip() for cell in records[0]]
    if not _header_ok(header, known, parsed):
        return
    jobs: list[object] = []
    for row, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        loc: Loc = ("jobs", len(jobs))
        parsed.rows[loc] = row
        if len(cells) != len(header):
            message = f"has {len(cells)} cells; the header has {len(header)} columns"
            parsed.issues.append(parsed.issue(loc, message, field="columns", value=len(cells)))
            jobs.append(SKIPPED)
            continue
        jobs.append(_csv_job(header, cells))
    parsed.data = {"jobs": jobs}


def _header_ok(header: list[str], known: tuple[str, ...], parsed: Parsed) -> bool:
    issues: list[BatchIssue] = []

    def problem(message: str, column: str) -> None:
        issues.append(parsed.issue((), message, field="header", value=column, allowed=known, row=1))

    seen: set[str] = set()
    for column in header:
        if column in seen:
            problem(f"duplicate column {column!r}", column)
        seen.add(column)
        label = column.startswith(_LABEL_PREFIX) and len(column) > len(_LABEL_PREFIX)
        if column not in CSV_COLUMNS and not label:
            problem(f"unknown column {column!r}; known columns: {', '.join(known)}", column)
    if "prompt" not in seen:
        problem(f"no 'prompt' column; known columns: {', '.join(known)}", "prompt")
    parsed.issues.extend(issues)
    return not issues


def _csv_job(header: list[str], cells: list[str]) -> dict[str, object]:
    job: dict[str, object] = {}
    labels: dict[str, str] = {}
    for column, cell in zip(header, cells, strict=True):
        if column.startswith(_LABEL_PREFIX):
            if cell != "":
                labels[column[len(_LABEL_PREFIX) :]] = cell
        elif column == "prompt" or cell.strip():
            job[column] = cell
    if labels:
        job["labels"] = labels
    return job


_PARSERS: dict[str, Callable[[str, Parsed], None]] = {
    "csv": _parse_csv,
    "json": _parse_json,
    "jsonl": _parse_jsonl,
    "yaml": _parse_yaml,
}
