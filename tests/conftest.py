"""Fixtures shared by every test tier."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_DBOS_CONSOLE = "__dbos_console_log_handler__"


@pytest.fixture(autouse=True)
def _no_real_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real provider settings."""
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "SORA_API_BASE_URL",
        "OPENAI_WEBHOOK_SECRET",
        "REELFORGE_DB_URL",
        "NOTION_TOKEN",
        "NOTION_BATCH_DATABASE_ID",
        "NOTION_DATABASE_ID",
        "NOTION_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _dbos_logs_to_an_open_stream() -> None:
    """DBOS adds its console log handler at its first launch, bound to ``sys.stderr`` as it is
    then; inside ``CliRunner`` that stream is closed once the command returns, and the next launch
    in this process fails flushing it. Point the handler at the test's own stderr instead."""
    logger = logging.getLogger("dbos")
    console = [h for h in logger.handlers if h.name == _DBOS_CONSOLE]
    if not console:
        handler = logging.StreamHandler(sys.stderr)
        handler.name = _DBOS_CONSOLE  # DBOS then keeps it as its console handler
        logger.addHandler(handler)
    for existing in console:
        if isinstance(existing, logging.StreamHandler):
            existing.setStream(sys.stderr)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs holding ``existing.db`` (a SQLite database): not even root can create
    or change a file in it. Tests run as root; without that, this fails instead of skipping."""
    folder = tmp_path / "ro"
    folder.mkdir()
    _mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder))
    try:
        sqlite3.connect(folder / "existing.db").close()
        _mount("-o", "remount,ro", str(folder))
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)  # noqa: S603, S607  # our arguments


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)  # noqa: S603, S607  # ours
