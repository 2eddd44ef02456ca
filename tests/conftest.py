"""Fixtures shared by every test tier."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_real_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real provider settings."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SORA_API_BASE_URL", "OPENAI_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
