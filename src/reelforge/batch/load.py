"""Loading a batch file: the size cap, the encoding, the format, then every check."""

from __future__ import annotations

import os
from pathlib import Path

from reelforge.batch.build import assemble
from reelforge.batch.errors import BatchFileError, BatchIssue
from reelforge.batch.ids import SAFE_NAME_PATTERN, name_problem, slug
from reelforge.batch.loaders import EXTENSIONS, Parsed, format_for, parse_text
from reelforge.batch.model import Batch, BatchJob

__all__ = ["DEFAULT_MAX_BYTES", "FORMATS", "load_batch", "parse_batch"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
"""The largest batch file read by default: 20 MiB."""

FORMATS = ("csv", "json", "jsonl", "yaml")
"""The formats :func:`parse_batch` understands."""


def load_batch(path: Path | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Batch:
    """Read, parse and validate the batch file at ``path``; nothing is sent.

    The format comes from the extension (``.yaml``/``.yml``, ``.json``, ``.jsonl``, ``.csv``).
    The file's size is checked against ``max_bytes`` before it is read. The batch is named by
    its ``batch:`` field (YAML, JSON) or else after the file's stem, made safe (``Spring
    Launch.csv`` → ``Spring-Launch``). ``input_reference`` paths are relative to the file's
    folder. Raises :class:`~reelforge.batch.BatchFileError` listing every problem.
    """
    path = Path(path)
    source = str(path)
    fmt = format_for(path)
    if fmt is None:
        allowed = tuple(EXTENSIONS)
        message = f"unknown extension {path.suffix or '(none)'!r}; allowed: {', '.join(allowed)}"
        raise _file_error(source, path, message, "extension", path.suffix, allowed)
    data = _read(path, source, max_bytes)
    text = _decode(data, source, path)
    parsed = parse_text(text, format=fmt, source=source, path=path)
    return _finish(parsed, default_name=slug(path.stem), base_dir=path.parent.resolve(), path=path)


def parse_batch(
    text: str,
    *,
    format: str,
    name: str,
    base_dir: Path | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Batch:
    """Parse and validate batch ``text`` in ``format`` (``yaml``, ``json``, ``jsonl``, ``csv``).

    ``name`` names the batch unless the text does (``batch:`` in YAML or JSON), as a file's
    stem would. Relative ``input_reference`` paths are resolved against ``base_dir`` (the
    working directory by default). Locations in messages read ``<string>:LINE``.
    """
    if format not in FORMATS:
        message = f"unknown format {format!r}; allowed: {', '.join(FORMATS)}"
        raise _file_error("<string>", None, message, "format", format, FORMATS)
    if (problem := name_problem(name, batch=True)) is not None:
        raise _file_error("<string>", None, problem, "batch", name, (SAFE_NAME_PATTERN,))
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise _file_error("<string>", None, _too_big(size, max_bytes), "file_size", size, None)
    parsed = parse_text(text.removeprefix("\ufeff"), format=format, source="<string>", path=None)
    base = (base_dir if base_dir is not None else Path.cwd()).resolve()
    return _finish(parsed, default_name=name, base_dir=base, path=None)


def _finish(parsed: Parsed, *, default_name: str, base_dir: Path, path: Path | None) -> Batch:
    name, built = assemble(parsed, default_name=default_name, base_dir=base_dir)
    jobs = tuple(
        BatchJob(key=b.key, spec=b.spec, index=b.index, location=b.location) for b in built
    )
    return Batch(name=name, jobs=jobs, source=path)


def _read(path: Path, source: str, max_bytes: int) -> bytes:
    """The file's bytes; its size is checked first, and the read is bounded anyway."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _file_error(source, path, _too_big(size, max_bytes), "file_size", size, None)
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except IsADirectoryError as exc:
        raise _file_error(
            source, path, "is a directory, not a batch file", "file", None, None
        ) from exc
    except FileNotFoundError as exc:
        raise _file_error(source, path, "no such file", "file", None, None) from exc
    except OSError as exc:
        message = f"cannot read: {os.strerror(exc.errno) if exc.errno else exc}"
        raise _file_error(source, path, message, "file", None, None) from exc
    if len(data) > max_bytes:  # it grew, or it is a pipe
        raise _file_error(source, path, _too_big(None, max_bytes), "file_size", None, None)
    return data


def _decode(data: bytes, source: str, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = (
            f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded; save the file as UTF-8"
        )
        issue = BatchIssue(
            message=message,
            field="encoding",
            source=source,
            path=path,
            line=line,
            allowed=("UTF-8",),
        )
        raise BatchFileError([issue]) from exc


def _too_big(size: int | None, cap: int) -> str:
    what = f"is {size:,} bytes" if size is not None else "is larger than the cap"
    return f"{what}; the cap is {cap:,} bytes ({cap / 1048576:g} MiB); raise it with max_bytes"


def _file_error(
    source: str,
    path: Path | None,
    message: str,
    field: str,
    value: object,
    allowed: tuple[str, ...] | None,
) -> BatchFileError:
    issue = BatchIssue(
        message=message, field=field, source=source, path=path, value=value, allowed=allowed
    )
    return BatchFileError([issue])
