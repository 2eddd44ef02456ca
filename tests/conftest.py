"""Fixtures shared by every test tier."""

from __future__ import annotations

import logging
import sys

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
