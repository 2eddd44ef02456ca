"""docs/simulator.md documents every configuration key, and its example loads."""

import re
from pathlib import Path

import pytest

from reelforge.sim import FaultConfig, SimConfig, load_sim_config

DOC = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text(encoding="utf-8")
KEYS = [name for name in SimConfig.model_fields if name != "faults"] + [
    f"faults.{name}" for name in FaultConfig.model_fields
]


@pytest.mark.parametrize("key", KEYS)
def test_every_config_key_is_documented(key: str) -> None:
    assert f"| `{key}` |" in DOC


def test_the_example_config_loads(tmp_path: Path) -> None:
    match = re.search(r"```yaml\n(.*?)```", DOC, re.DOTALL)
    assert match is not None
    path = tmp_path / "sim.yaml"
    path.write_text(match.group(1), encoding="utf-8")
    config = load_sim_config(path)
    assert config.faults.max_in_flight == 4
    assert "veo-3.1" in config.extra_models
