"""The library's batch entry points: ``Forge.run`` and the synchronous ``reelforge.run``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import reelforge
from reelforge import Batch, Forge, JobSpec, JobState
from reelforge.sim import EmbeddedSimulator, SimConfig


@pytest.mark.slow
def test_sync_run_of_a_batch_file_on_the_simulator(tmp_path: Path) -> None:
    path = tmp_path / "spring.yaml"
    path.write_text(
        "batch: spring\njobs:\n"
        "  - {prompt: A red kite, key: kite, labels: {brand: acme}}\n"
        "  - {prompt: A lighthouse, key: light, seconds: 8, size: '16:9'}\n",
        encoding="utf-8",
    )
    result = reelforge.run(path, out=tmp_path / "out", db=tmp_path / "db.sqlite")
    assert result.ok
    assert result.count(JobState.DONE) == 2
    assert result.summary.actual == Decimal("1.2")
    record = json.loads((tmp_path / "out" / "spring" / "kite" / "job.json").read_text())
    assert record["labels"] == {"brand": "acme"}
    assert record["state"] == "done"


@pytest.mark.slow
async def test_forge_run_twice_never_resubmits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    batch = Batch.from_specs("again", [JobSpec(prompt=f"clip {i}") for i in range(3)])
    with EmbeddedSimulator(SimConfig()) as emb:
        for _ in range(2):
            async with Forge(base_url=emb.base_url, db=tmp_path / "db.sqlite") as forge:
                result = await forge.run(batch, out=tmp_path / "out")
            assert result.count(JobState.DONE) == 3
        assert len(emb.sim.log.creates) == 3
