"""Fixtures for the sinks' tests: a migrated SQLite file, a hand-driven wall clock, fake time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sink_helpers import FakeTime, WallClock

from reelforge.store import Store


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "reelforge.db"


@pytest.fixture
def store(db_path: Path, wall: WallClock) -> Iterator[Store]:
    with Store.for_path(db_path, now=wall) as opened:
        opened.migrate()
        yield opened
