"""A fresh PostgreSQL database per benchmark run, on a server the caller names.

``--db postgresql://USER@HOST:PORT/`` names a running server (the database part, if any, is
ignored); each run gets ``CREATE DATABASE rf_bench_<random>`` and drops it afterwards, so runs
never see each other's rows. Start a throwaway server as in ``tests/pgserver.py``, e.g.::

    runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D /tmp/pg-bench/data -U reelforge \
        --auth=trust -E UTF8 --no-sync
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pg-bench/data -w \
        -l /tmp/pg-bench/server.log -o "-p 55436 -k /tmp/pg-bench -c listen_addresses=127.0.0.1 \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url


def server_of(url: str) -> dict[str, object]:
    """Connection keywords for ``url``'s server (its ``postgres`` database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {url}")
    keywords: dict[str, object] = {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "dbname": "postgres",
        "autocommit": True,
    }
    if parsed.password:
        keywords["password"] = parsed.password
    return keywords


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new empty database on ``url``'s server; its SQLAlchemy URL (``postgresql+psycopg``).
    Dropped, connections and all, on exit."""
    keywords = server_of(url)
    name = f"rf_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**keywords) as conn:  # type: ignore[call-overload]
        conn.execute(f'CREATE DATABASE "{name}"')
    parsed = make_url(url).set(drivername="postgresql+psycopg", database=name)
    try:
        yield parsed.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(**keywords) as conn:  # type: ignore[call-overload]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def masked(url: str) -> str:
    """``url`` with its password hidden, for printing."""
    return make_url(url).render_as_string(hide_password=True)
