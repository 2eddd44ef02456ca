from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from reelforge.sim import EmbeddedSimulator, SimConfig


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedSimulator]:
    """A simulator on a real loopback port, used as if it were a remote gateway with a key."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-value-123")
    with EmbeddedSimulator(SimConfig()) as emb:
        yield emb
