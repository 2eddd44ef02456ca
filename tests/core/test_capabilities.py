from pathlib import Path

import pytest

from reelforge import InvalidSpecError, JobSpec, capabilities_for, validate_spec
from reelforge.core import known_models, resolve_size


@pytest.mark.parametrize(
    ("model", "seconds", "size"),
    [
        (model, seconds, size)
        for model in ("sora-2", "sora-2-pro")
        for seconds in capabilities_for(model).seconds
        for size in capabilities_for(model).sizes
    ],
)
def test_every_allowed_combination_validates(model: str, seconds: int, size: str) -> None:
    spec = JobSpec(prompt="a kite", model=model, seconds=seconds, size=size)
    assert validate_spec(spec) == spec


def test_capability_table_matches_the_protocol() -> None:
    assert capabilities_for("sora-2").seconds == (4, 8, 12)
    assert set(capabilities_for("sora-2").sizes) == {"720x1280", "1280x720"}
    assert set(capabilities_for("sora-2-pro").sizes) == {
        "720x1280",
        "1280x720",
        "1024x1792",
        "1792x1024",
    }
    assert capabilities_for("sora-2-pro-2025-10-06") == capabilities_for("sora-2-pro")
    assert "sora-2-2025-12-08" in known_models()


@pytest.mark.parametrize(("seconds"), [10, 25, 0, -4])
def test_unsupported_seconds_name_the_allowed_values(seconds: int) -> None:
    with pytest.raises(InvalidSpecError) as info:
        validate_spec(JobSpec(prompt="x", seconds=seconds))
    assert info.value.field == "seconds"
    assert info.value.allowed == (4, 8, 12)
    assert "allowed: 4, 8, 12" in str(info.value)


def test_pro_size_on_sora_2_says_it_needs_pro() -> None:
    with pytest.raises(InvalidSpecError) as info:
        validate_spec(JobSpec(prompt="x", size="1792x1024"))
    assert info.value.field == "size"
    assert "allowed: 720x1280, 1280x720" in str(info.value)
    assert "needs sora-2-pro" in str(info.value)


@pytest.mark.parametrize(("ratio", "size"), [("16:9", "1280x720"), ("9:16", "720x1280")])
def test_aspect_ratios_map_to_sizes(ratio: str, size: str) -> None:
    assert validate_spec(JobSpec(prompt="x", size=ratio)).size == size


@pytest.mark.parametrize("bad", ["1:1", "4:3", "square", "1280*720", "0x720", ""])
def test_unmappable_sizes_are_rejected_with_the_choices(bad: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        resolve_size("sora-2", bad)
    assert info.value.field == "size"
    assert "16:9" in str(info.value)
    assert "720x1280" in str(info.value)


@pytest.mark.parametrize("prompt", ["", "   \n\t"])
def test_empty_prompt_is_rejected(prompt: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        validate_spec(JobSpec(prompt=prompt))
    assert info.value.field == "prompt"


def test_prompt_limit_is_32000_characters() -> None:
    assert validate_spec(JobSpec(prompt="a" * 32_000))
    with pytest.raises(InvalidSpecError, match="at most 32000") as info:
        validate_spec(JobSpec(prompt="a" * 32_001))
    assert info.value.field == "prompt"


def test_missing_input_reference_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpecError) as info:
        validate_spec(JobSpec(prompt="x", input_reference=tmp_path / "nope.png"))
    assert info.value.field == "input_reference"
    image = tmp_path / "ref.png"
    image.write_bytes(b"\x89PNG")
    assert validate_spec(JobSpec(prompt="x", input_reference=image)).input_reference == image


def test_unknown_gateway_models_pass_through() -> None:
    caps = capabilities_for("veo-3.1")
    assert not caps.known
    spec = validate_spec(JobSpec(prompt="x", model="veo-3.1", seconds=6, size="1920x1080"))
    assert spec.seconds == 6
    assert spec.size == "1920x1080"
    with pytest.raises(InvalidSpecError):
        validate_spec(JobSpec(prompt="x", model="veo-3.1", seconds=0))


def test_job_spec_is_frozen_including_labels() -> None:
    spec = JobSpec(prompt="x", labels={"brand": "acme"})
    with pytest.raises(AttributeError):
        spec.prompt = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.labels["brand"] = "other"  # type: ignore[index]
    assert hash(spec) == hash(JobSpec(prompt="x", labels={"brand": "other"}))
