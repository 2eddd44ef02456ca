from decimal import Decimal
from pathlib import Path

import pytest

from reelforge import ConfigError, JobSpec, PriceTable, estimate_cost


@pytest.mark.parametrize(
    ("model", "size", "seconds", "expected"),
    [
        ("sora-2", "720x1280", 4, "0.40"),
        ("sora-2", "1280x720", 12, "1.20"),
        ("sora-2-pro", "1280x720", 8, "2.40"),
        ("sora-2-pro", "1792x1024", 12, "6.00"),
        ("sora-2-pro", "1024x1792", 4, "2.00"),
        ("sora-2-pro-2025-10-06", "1024x1792", 4, "2.00"),
        ("sora-2-2025-12-08", "720x1280", 8, "0.80"),
    ],
)
def test_published_prices(model: str, size: str, seconds: int, expected: str) -> None:
    cost = estimate_cost(JobSpec(prompt="x", model=model, size=size, seconds=seconds))
    assert cost == Decimal(expected)


def test_unknown_model_has_no_price() -> None:
    assert estimate_cost(JobSpec(prompt="x", model="veo-3.1", size="1280x720")) is None


def test_custom_table_with_wildcard_size(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[openai."veo-3.1"]\n"*" = 0.4\n"1920x1080" = 0.75\n', encoding="utf-8")
    table = PriceTable.from_file(path)
    assert table.estimate(JobSpec(prompt="x", model="veo-3.1", size="1280x720", seconds=8)) == (
        Decimal("3.2")
    )
    assert table.estimate(JobSpec(prompt="x", model="veo-3.1", size="1920x1080", seconds=4)) == (
        Decimal("3")
    )
    assert table.estimate(JobSpec(prompt="x", model="sora-2", size="1280x720")) is None


@pytest.mark.parametrize(
    "body", ['[openai.m]\n"*" = "abc"\n', '[openai.m]\n"*" = -1\n', "not toml ["]
)
def test_bad_price_files_are_config_errors(tmp_path: Path, body: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError):
        PriceTable.from_file(path)
