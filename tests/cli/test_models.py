"""``reelforge models``: every provider's models, what they accept and what they cost."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from reelforge.cli import app
from reelforge.core.capabilities import known_models
from reelforge.core.catalog import load_catalog
from reelforge.providers.registry import known_providers


def test_models_json_lists_every_catalog_model_with_its_inputs_and_prices(
    runner: CliRunner,
) -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    listed = {(m["provider"], m["model"]): m for m in json.loads(result.stdout)}
    for provider in known_providers():
        for name, caps in load_catalog(provider).items():
            assert (provider, name) in listed
            assert listed[(provider, name)]["seconds"] == list(caps.seconds)
    assert {"openai", "fal", "replicate"} <= set(known_providers())
    veo = listed[("fal", "fal-ai/veo3.1")]
    assert veo["prices_per_second"]["1080p+audio"] == "0.40"
    assert veo["aspect_ratios"] == ["16:9", "9:16"]
    assert veo["image_variant"] == "fal-ai/veo3.1/image-to-video"
    assert listed[("fal", "fal-ai/veo3.1/fast")]["price_estimated"] is True
    hailuo = listed[("fal", "fal-ai/minimax/hailuo-2.3/pro/text-to-video")]
    assert hailuo["prices_per_second"] == {"*": "0.49/video"}
    assert listed[("replicate", "google/veo-3.1")]["end_image"] is True
    sora = listed[("openai", "sora-2")]
    assert sora["sizes"] == ["720x1280", "1280x720"]
    assert ("openai", "sora-2-2025-10-06") not in listed  # dated aliases are not models
    assert "sora-2-2025-10-06" in known_models("openai")


def test_models_for_one_provider_and_a_table_by_default(runner: CliRunner) -> None:
    result = runner.invoke(app, ["models", "--provider", "openai"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "sora-2-pro" in result.stdout
    assert "$0.30 to 0.50/s" in result.stdout


def test_an_unknown_provider_exits_2_naming_the_known_ones(runner: CliRunner) -> None:
    result = runner.invoke(app, ["models", "--provider", "nope"])
    assert result.exit_code == 2
    assert "provider 'nope' is not known; known providers:" in result.stderr
    assert "openai" in result.stderr
