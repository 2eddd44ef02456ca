"""Connections: SQLite pragmas, ``BEGIN IMMEDIATE`` for writes, and short transactions.

SQLite is made safe for several processes on one file by four settings on every connection
(WAL journal, ``synchronous=NORMAL``, a busy timeout, foreign keys) and by taking the write lock
at the start of every write transaction (``BEGIN IMMEDIATE``). A deferred ``BEGIN`` that later
writes can fail at once with ``database is locked`` when another writer got in first: the busy
handler cannot help there, because waiting could not make the reader's snapshot current.

Python's ``sqlite3`` driver is told to leave transactions alone (``isolation_level = None``) and
SQLAlchemy's ``begin`` event emits our own ``BEGIN``, as SQLAlchemy's SQLite documentation
describes.

On PostgreSQL every write transaction of ours takes one transaction-level advisory lock first
(:data:`WRITE_LOCK_KEY`), held until it commits: writers take turns as they do on SQLite. This
is what keeps the outbox sound — an event's id comes from a sequence, and two writers running
at once could commit ids out of order (id 11 visible before id 10), so a sink whose cursor
passed 11 would never read 10. With writers in turn, ids become visible in id order. Reads
never take it. Writes that read first also lock the rows they read (``SELECT ... FOR UPDATE``).
DBOS's own tables in the same database are not affected.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from reelforge.core.config import display_url
from reelforge.core.errors import ConfigError
from reelforge.store.errors import SchemaTooNewError, StoreError

__all__ = ["BUSY_TIMEOUT_S", "WRITE_OPTION", "make_engine", "opening", "read", "write"]

BUSY_TIMEOUT_S = 30.0
"""How long a connection waits for another process's write lock before giving up."""

WRITE_OPTION = "reelforge_write"
"""Execution option that makes a write transaction take the database's write lock at its start:
``BEGIN IMMEDIATE`` on SQLite, :data:`WRITE_LOCK_KEY` on other databases."""
WRITE_LOCK_KEY = 0x7265656C666F7267 & 0x7FFFFFFFFFFFFFFF
"""The transaction-level advisory lock (``pg_advisory_xact_lock``) every reelforge write
transaction on PostgreSQL takes first ("reelforg" in ASCII: no other application's key)."""


def make_engine(url: str, *, busy_timeout: float = BUSY_TIMEOUT_S) -> Engine:
    """An engine for ``url``; SQLite connections get the pragmas and transaction control."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pre_ping: a pooled connection a restarted server dropped is replaced, not used.
        engine = create_engine(url, json_serializer=_json_dumps, pool_pre_ping=True)
        event.listen(engine, "begin", _postgres_begin)
        return engine
    engine = create_engine(url, connect_args={"timeout": busy_timeout})
    event.listen(engine, "connect", _sqlite_connect(busy_timeout))
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _json_dumps(value: Any) -> str:
    """JSON for a column; a value that is not JSON is a :class:`StoreError` (the driver would
    raise the encoder's bare ``TypeError``, which SQLite's path reports through SQLAlchemy)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"database write failed: a value is not JSON ({exc})") from exc


def _sqlite_connect(busy_timeout: float) -> Any:
    def on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # The driver must not open transactions on its own: ``_sqlite_begin`` does.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            # WAL is a property of the file and survives; an in-memory database stays 'memory'.
            _set_wal(cursor, deadline=time.monotonic() + busy_timeout)
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    return on_connect


def _postgres_begin(connection: Connection) -> None:
    # One writer at a time, as SQLite's BEGIN IMMEDIATE: held until commit or rollback.
    if connection.get_execution_options().get(WRITE_OPTION, False):
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")


def _sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(WRITE_OPTION, False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


@contextmanager
def opening(url: str, *, option: str = "--db") -> Iterator[None]:
    """Opening or migrating the database at ``url``: a database that cannot be opened (no such
    folder, not a database, unreachable server) becomes a one-line
    :class:`~reelforge.core.errors.ConfigError` naming it, instead of SQLAlchemy's error."""
    try:
        yield
    except SchemaTooNewError as exc:
        raise ConfigError(f"{option} {display_url(url)}: {exc}") from exc
    except DatabaseError as exc:  # OperationalError is one
        reason = str(exc.orig) if exc.orig is not None else type(exc).__name__
        first_line = reason.strip().splitlines()[0] if reason.strip() else reason
        raise ConfigError(
            f"{option} {display_url(url)}: cannot be opened as a database ({first_line})"
        ) from exc


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction: the write lock is taken at its start, committed at its end.

    SQLAlchemy errors are translated to :class:`~reelforge.store.errors.StoreError`; the
    store's own errors raised inside roll the transaction back and pass through.
    """
    try:
        with engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                yield connection
    except SQLAlchemyError as exc:
        raise StoreError(f"database write failed: {exc}") from exc


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """One read transaction: a consistent snapshot, no write lock."""
    try:
        with engine.connect() as connection, connection.begin():
            yield connection
    except SQLAlchemyError as exc:
        raise StoreError(f"database read failed: {exc}") from exc


def _set_wal(cursor: sqlite3.Cursor, *, deadline: float) -> None:
    """Switch the file to WAL. Turning a new file to WAL needs an exclusive lock for which
    SQLite does not always wait (several processes opening a new file at once), so a busy
    answer is retried until the busy timeout has passed."""
    delay = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
