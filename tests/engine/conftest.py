"""Fixtures for the engine's acceptance tests (helpers live in ``engine_harness``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from engine_harness import SimFactory, SimProcess, start_sim

from pgserver import PostgresServer, postgres_server

__all__ = ["postgres_server"]


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[SimFactory]:
    """Start ``reelforge sim`` processes for one test; every one is stopped at its end."""
    with ExitStack() as stack:
        count = 0

        def factory(config: dict[str, Any]) -> SimProcess:
            nonlocal count
            count += 1
            return stack.enter_context(start_sim(config, tmp_path / f"sim{count}"))

        yield factory


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for an engine (DBOS's tables and ours): a SQLite file, or a new
    database on the PostgreSQL server of ``pgserver``."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with server.database() as url:
        yield url
