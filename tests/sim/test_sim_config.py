"""Loading the simulator's config from YAML or JSON, with clear errors and flag overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import reelforge.sim
from reelforge.core.errors import ConfigError
from reelforge.sim import DEFAULT_TIME_SCALE, FaultConfig, SimConfig, load_sim_config


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(
        """
time_scale: 120
seed: 9
poll_after_hint: false
extra_models:
  veo-3.1: {seconds: [4, 8], sizes: ["1280x720"], speed: 1.5}
faults:
  moderation_patterns: ["celebrity"]
  max_in_flight: 3
  rate_limit_burst: {every: 30, length: 5}
  large_asset_bytes: 1048576
webhooks:
  urls: ["http://127.0.0.1:9/hook"]
  secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
""",
        encoding="utf-8",
    )
    config = load_sim_config(path)
    assert (config.time_scale, config.seed, config.poll_after_hint) == (120, 9, False)
    assert config.extra_models["veo-3.1"].seconds == (4, 8)
    assert config.faults.max_in_flight == 3
    assert config.faults.rate_limit_burst is not None
    assert config.faults.rate_limit_burst.length == 5
    assert config.webhooks is not None
    assert config.webhooks.urls == ("http://127.0.0.1:9/hook",)


def test_json_file_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    path.write_text(json.dumps({"seed": 2, "faults": {"rate_limit_rate": 0.1}}), encoding="utf-8")
    assert load_sim_config(path).faults.rate_limit_rate == 0.1
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert load_sim_config(empty) == SimConfig()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("time_scal: 3\n", "unknown key 'time_scal'"),
        ("faults:\n  rate_limit_rat: 0.5\n", "unknown key 'faults.rate_limit_rat'"),
        ("faults:\n  rate_limit_rate: 2\n", "faults.rate_limit_rate"),
        ("faults:\n  moderation_patterns: ['(']\n", "invalid regular expression"),
        ("- a list\n", "mapping"),
        ("time_scale: [\n", "not valid YAML or JSON"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_sim_config(path)
    assert expected in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_sim_config(tmp_path / "nope.yaml")


def test_flags_override_file_values() -> None:
    base = SimConfig(seed=1, time_scale=10, faults=FaultConfig(max_in_flight=2))
    merged = base.with_overrides(time_scale=500, seed=None)
    assert (merged.time_scale, merged.seed, merged.faults.max_in_flight) == (500, 1, 2)
    with pytest.raises(ConfigError, match="time_scale"):
        base.with_overrides(time_scale=-1)


def test_defaults_and_frozen() -> None:
    config = SimConfig()
    assert config.time_scale == DEFAULT_TIME_SCALE
    with pytest.raises(ValueError, match="frozen"):
        config.seed = 3  # type: ignore[misc]


def test_public_api_is_sorted_and_complete() -> None:
    names = list(reelforge.sim.__all__)
    # ruff's RUF022 order: constants, then classes, then functions.
    assert names == sorted(
        names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
    )
    for name in (
        "SimConfig",
        "FaultConfig",
        "Simulator",
        "EmbeddedSimulator",
        "load_sim_config",
        "serve",
    ):
        assert name in names
        assert getattr(reelforge.sim, name) is not None
