"""The places reelforge writes to, checked before anything is sent.

A run that cannot write its videos or its records must stop before its first create, not after
the provider has billed it: :func:`check_output_dir` proves the output folder can take files,
:func:`check_database` that a SQLite file URL points at a usable database file. Both raise
:class:`~reelforge.core.errors.ConfigError` with one line naming the option (exit code 2 on the
command line).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from reelforge.core.config import Settings, database_url, display_url
from reelforge.core.errors import ConfigError

__all__ = ["check_database", "check_output_dir", "database_location"]

_SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file (an empty file is a new database)."""
_URL_HINT = "give a SQLite file path, or a URL such as postgresql://user@host/reelforge"


def check_output_dir(path: Path, *, option: str = "--out") -> Path:
    """``path`` as a folder that takes new files: created if missing, then proved writable by
    creating and removing a probe file in it."""
    shown = f"{option} {path}"
    blocker = _file_in_the_way(path)
    if blocker == path:
        raise ConfigError(f"{shown} is a file, not a folder")
    if blocker is not None:
        raise ConfigError(f"{shown}: {blocker} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{shown}: {_reason(exc)} (cannot create the folder)") from None
    _probe(path, f"{shown}: {{reason}} (cannot create files there)")
    return path


def check_database(url: str, *, option: str = "--db") -> str:
    """``url``, once a SQLite file URL is known to be usable: not a folder, its folder exists
    (created if missing) and takes new files, and an existing file is a SQLite database this
    process can read and write. In-memory, ``file:`` URI and other databases' URLs pass
    through once their driver is known (a server is only reached when the store opens it)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{option}: not a database URL ({_URL_HINT})") from None
    try:
        parsed.get_dialect()
    except ArgumentError:  # NoSuchModuleError: no dialect of that name is installed
        raise ConfigError(
            f"{option} {display_url(url)}: no database driver {parsed.drivername!r} ({_URL_HINT})"
        ) from None
    database = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        return url
    path = Path(database).expanduser()
    shown = f"{option} {path}"
    if os.path.isdir(path):
        raise ConfigError(f"{shown}: is a folder; give a database file path or URL")
    blocker = _file_in_the_way(path.parent)
    if blocker is not None:
        raise ConfigError(f"{shown}: {blocker} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{shown}: {_reason(exc)} (cannot create the folder {path.parent})"
        ) from None
    _probe(path.parent, f"{shown}: {{reason}} (cannot create files in {path.parent})")
    if os.path.lexists(path):
        _check_database_file(path, shown)
    return url


def database_location(
    value: str | Path | None = None, settings: Settings | None = None, *, option: str = "--db"
) -> str:
    """:func:`~reelforge.core.config.database_url`, with a folder that cannot be created for
    the file reported as a :class:`ConfigError` instead of an ``OSError``."""
    try:
        return database_url(value, settings)
    except OSError as exc:
        shown = value if value is not None else "the database"
        where = Path(exc.filename) if exc.filename else None
        if where is not None and os.path.exists(where) and not os.path.isdir(where):
            raise ConfigError(f"{option} {shown}: {where} is a file, not a folder") from None
        folder = f" {where}" if where is not None else ""
        raise ConfigError(
            f"{option} {shown}: {_reason(exc)} (cannot create the folder{folder})"
        ) from None


def _check_database_file(path: Path, shown: str) -> None:
    if not os.path.isfile(path):
        raise ConfigError(f"{shown}: is not a regular file; give a database file path or URL")
    try:
        with path.open("r+b") as handle:  # opened for writing, never written
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise ConfigError(f"{shown}: {_reason(exc)} (cannot read and write the file)") from None
    if header and header != _SQLITE_HEADER:
        raise ConfigError(
            f"{shown}: is not a SQLite database (give a database file, or a path where none "
            "exists yet)"
        )


def _probe(folder: Path, message: str) -> None:
    """Create and remove a file in ``folder``; ``message`` (with ``{reason}``) if it fails."""
    try:
        handle, name = tempfile.mkstemp(prefix=".reelforge-probe-", dir=folder)
    except OSError as exc:
        raise ConfigError(message.format(reason=_reason(exc))) from None
    os.close(handle)
    os.unlink(name)


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest of ``path`` and its parents that exists, if it is not a folder."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return None if os.path.isdir(candidate) else candidate
    return None


def _reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]
