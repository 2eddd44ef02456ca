"""The model catalogs: strict data, provider-neutral fields mapped to each model's wire, prices by
resolution and audio, and every refusal naming the field and the allowed values."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from reelforge import JobSpec
from reelforge.batch import BatchFileError, parse_batch
from reelforge.core.capabilities import capabilities_for, known_models, validate_spec
from reelforge.core.catalog import catalog_providers, dimensions, load_catalog, wire_problems
from reelforge.core.errors import InvalidSpecError
from reelforge.core.pricing import estimate_cost
from reelforge.providers.inputs import input_digest, model_input

FAL_REQUIRED = (
    "fal-ai/veo3.1",
    "fal-ai/veo3.1/fast",
    "fal-ai/veo3.1/image-to-video",
    "fal-ai/kling-video/v3/standard/text-to-video",
    "fal-ai/kling-video/v3/pro/text-to-video",
    "bytedance/seedance-2.0/text-to-video",
    "fal-ai/wan/v2.7/text-to-video",
    "fal-ai/minimax/hailuo-2.3/standard/text-to-video",
)


def spec(provider: str, model: str, **fields: object) -> JobSpec:
    return validate_spec(
        JobSpec(prompt="a lighthouse at dusk", provider=provider, model=model, **fields)
    )  # type: ignore[arg-type]


def test_catalogs_hold_the_models_people_run() -> None:
    assert set(FAL_REQUIRED) <= set(known_models("fal"))
    assert {"google/veo-3.1", "google/veo-3.1-fast", "alibaba/wan-3"} <= set(
        known_models("replicate")
    )


@pytest.mark.parametrize("provider", catalog_providers())
def test_every_catalog_model_validates_and_prices_with_its_defaults(provider: str) -> None:
    for name, caps in load_catalog(provider).items():
        image = "https://cdn.example/first.png" if caps.image == "required" else None
        valid = spec(provider, name, seconds=caps.default_seconds, image=image)
        assert valid.resolution == caps.default_resolution
        assert valid.size == dimensions(valid.aspect_ratio, valid.resolution)
        cost = estimate_cost(valid)
        assert cost is not None, name
        assert cost > 0, name
        assert caps.price_source, name
        # What the adapter sends is what the simulator's validation accepts.
        assert wire_problems(caps, model_input(valid, caps)) == [], name


def test_each_model_gets_its_own_wire_names_and_forms() -> None:
    veo = spec("fal", "fal-ai/veo3.1", seconds=8, aspect_ratio="9:16", audio=False, seed=7)
    assert model_input(veo, capabilities_for(veo.model, "fal")) == {
        "prompt": "a lighthouse at dusk",
        "duration": "8s",
        "aspect_ratio": "9:16",
        "resolution": "720p",
        "generate_audio": False,
        "seed": 7,
    }
    kling = spec(
        "fal",
        "fal-ai/kling-video/v3/pro/image-to-video",
        seconds=10,
        image="https://cdn.example/a.png",
        end_image="https://cdn.example/b.png",
    )
    body = model_input(kling, capabilities_for(kling.model, "fal"))
    assert body["duration"] == "10"
    assert body["start_image_url"] == "https://cdn.example/a.png"
    assert body["end_image_url"] == "https://cdn.example/b.png"
    wan = spec("fal", "fal-ai/wan/v2.7/text-to-video", seconds=12)
    assert model_input(wan, capabilities_for(wan.model, "fal"))["duration"] == 12
    rep = spec("replicate", "google/veo-3.1", seconds=6, end_image="https://cdn.example/z.png")
    body = model_input(rep, capabilities_for(rep.model, "replicate"))
    assert body["duration"] == 6
    assert body["last_frame"] == "https://cdn.example/z.png"
    assert "prompt" in body
    assert "Prefer" not in body


def test_params_go_last_and_win(tmp_path: Path) -> None:
    image = tmp_path / "first.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    veo = spec(
        "fal",
        "fal-ai/veo3.1/image-to-video",
        seconds=4,
        image=str(image),
        params={"safety_tolerance": "2", "resolution": "1080p"},
    )
    body = model_input(veo, capabilities_for(veo.model, "fal"))
    assert body["safety_tolerance"] == "2"
    assert body["resolution"] == "1080p"
    assert body["image_url"].startswith("data:image/png;base64,")
    assert input_digest(body) == input_digest(dict(reversed(list(body.items()))))


@pytest.mark.parametrize(
    ("model", "fields", "field", "allowed"),
    [
        ("fal-ai/veo3.1", {"seconds": 5}, "seconds", "4, 6, 8"),
        ("fal-ai/veo3.1", {"resolution": "2k"}, "resolution", "720p, 1080p, 4k"),
        ("fal-ai/veo3.1", {"aspect_ratio": "1:1"}, "aspect_ratio", "16:9, 9:16"),
        ("fal-ai/veo3.1", {"image": "https://a/b.png"}, "image", "fal-ai/veo3.1/image-to-video"),
        ("fal-ai/veo3.1/image-to-video", {}, "image", "first frame"),
        ("fal-ai/minimax/hailuo-2.3/standard/text-to-video", {"seconds": 8}, "seconds", "6, 10"),
        (
            "fal-ai/minimax/hailuo-2.3/standard/text-to-video",
            {"seconds": 6, "audio": True},
            "audio",
            "not taken",
        ),
        (
            "fal-ai/kling-video/v3/standard/text-to-video",
            {"seconds": 5, "seed": 1},
            "seed",
            "not taken",
        ),
        (
            "fal-ai/kling-video/v3/standard/text-to-video",
            {"seconds": 5, "resolution": "1080p"},
            "resolution",
            "fixed: 720p",
        ),
        ("fal-ai/not-a-model/v1", {}, "model", "fal-ai/veo3.1"),
    ],
)
def test_a_combination_the_model_does_not_take_names_the_field_and_allowed_values(
    model: str, fields: dict[str, object], field: str, allowed: str
) -> None:
    fields.setdefault("seconds", 8)
    with pytest.raises(InvalidSpecError) as info:
        spec("fal", model, **fields)
    assert info.value.field == field
    assert allowed in info.value.message


def test_an_unknown_fal_endpoint_with_params_is_sent_as_params_say() -> None:
    custom = spec("fal", "fal-ai/someone/new-model", params={"duration": "5", "style": "noir"})
    caps = capabilities_for(custom.model, "fal")
    assert model_input(custom, caps) == {
        "prompt": "a lighthouse at dusk",
        "duration": "5",
        "style": "noir",
    }
    assert estimate_cost(custom) is None
    with pytest.raises(InvalidSpecError, match="cannot be mapped") as info:
        spec("fal", "fal-ai/someone/new-model", params={"x": 1}, resolution="720p")
    assert info.value.field == "resolution"


def test_openai_models_take_aspect_ratio_and_refuse_fields_the_protocol_lacks() -> None:
    assert spec("openai", "sora-2", aspect_ratio="16:9").size == "1280x720"
    with pytest.raises(InvalidSpecError) as info:
        spec("openai", "sora-2", audio=False)
    assert info.value.field == "audio"
    assert "input_reference" in info.value.message


def test_prices_follow_resolution_audio_and_per_clip_entries() -> None:
    assert estimate_cost(spec("fal", "fal-ai/veo3.1", seconds=8)) == Decimal("3.2000")
    assert estimate_cost(spec("fal", "fal-ai/veo3.1", seconds=8, audio=False)) == Decimal("1.6000")
    assert estimate_cost(spec("fal", "fal-ai/veo3.1", seconds=4, resolution="4k")) == Decimal(
        "2.4000"
    )
    hailuo = "fal-ai/minimax/hailuo-2.3/standard/text-to-video"
    assert estimate_cost(spec("fal", hailuo, seconds=10)) == Decimal("0.5600")
    assert estimate_cost(
        spec("fal", "fal-ai/minimax/hailuo-2.3/pro/text-to-video", seconds=6)
    ) == Decimal("0.4900")
    kling = spec("fal", "fal-ai/kling-video/v3/standard/text-to-video", seconds=5, audio=False)
    assert estimate_cost(kling) == Decimal("0.4200")
    assert estimate_cost(spec("replicate", "google/veo-3.1-fast", seconds=8)) == Decimal("1.2000")
    assert load_catalog("replicate")["google/veo-3.1"].estimated_price
    assert not load_catalog("fal")["fal-ai/veo3.1"].estimated_price


def test_wire_problems_word_what_a_server_would_refuse() -> None:
    caps = capabilities_for("fal-ai/veo3.1/image-to-video", "fal")
    problems = {p.field: p for p in wire_problems(caps, {"prompt": "x", "duration": 8})}
    assert problems["duration"].allowed == ("4s", "6s", "8s")
    assert problems["image_url"].kind == "missing"
    assert [p.field for p in wire_problems(caps, {"duration": "8s", "image_url": "u"})] == [
        "prompt"
    ]


def test_batch_files_carry_neutral_fields_per_job_and_in_defaults(tmp_path: Path) -> None:
    frame = tmp_path / "frames" / "first.png"
    frame.parent.mkdir()
    frame.write_bytes(b"\x89PNG\r\n\x1a\n")
    batch = parse_batch(
        """
batch: compare
defaults: {provider: fal, model: fal-ai/veo3.1/fast, resolution: 1080p, audio: false}
jobs:
  - {key: a, prompt: one}
  - {key: b, prompt: two, provider: replicate, model: google/veo-3.1, seconds: 4, seed: 3}
  - {key: c, prompt: three, model: fal-ai/veo3.1/fast/image-to-video, image: frames/first.png,
     params: {auto_fix: false}}
""",
        format="yaml",
        name="compare",
        base_dir=tmp_path,
    )
    a, b, c = (job.spec for job in batch)
    assert (a.seconds, a.resolution, a.audio, a.size) == (8, "1080p", False, "1920x1080")
    assert (b.provider, b.seconds, b.seed, b.resolution) == ("replicate", 4, 3, "1080p")
    assert c.image == str(frame)
    assert dict(c.params) == {"auto_fix": False}
    csv = (
        "prompt,provider,model,seconds,audio,seed,params\n"
        'x,fal,fal-ai/veo3.1,6,no,42,"{""enhance"": true}"\n'
    )
    (row,) = parse_batch(csv, format="csv", name="row")
    assert (row.spec.audio, row.spec.seed, dict(row.spec.params)) == (False, 42, {"enhance": True})


def test_batch_file_errors_for_neutral_fields_name_field_and_allowed_values() -> None:
    with pytest.raises(BatchFileError) as info:
        parse_batch(
            """
defaults: {provider: fal, model: fal-ai/veo3.1}
jobs:
  - {prompt: one, seconds: 5, aspect_ratio: "4:3"}
  - {prompt: two, size: 1280x720}
  - {prompt: three, audio: maybe}
""",
            format="yaml",
            name="bad",
        )
    messages = {(i.field, i.message) for i in info.value.errors}
    fields = {field for field, _ in messages}
    assert {"seconds", "aspect_ratio", "size", "audio"} <= fields
    assert any("16:9, 9:16" in m for f, m in messages if f == "aspect_ratio")
    assert any("aspect_ratio" in m for f, m in messages if f == "size")


def test_runway_ratio_is_the_pixel_ratio_of_aspect_and_resolution() -> None:
    veo = spec("runway", "veo3.1", seconds=8, aspect_ratio="9:16", resolution="1080p")
    body = model_input(veo, capabilities_for(veo.model, "runway"))
    assert body["ratio"] == "1080:1920"
    assert "resolution" not in body
    caps = capabilities_for("gen4.5", "runway")
    assert [p.field for p in wire_problems(caps, {"prompt": "x", "ratio": "1920:1080"})] == [
        "ratio"
    ]


def test_vertex_parameters_use_googles_names() -> None:
    veo = spec("vertex", "veo-3.1-fast-generate-001", seconds=6, negative_prompt="rain", seed=9)
    body = model_input(veo, capabilities_for(veo.model, "vertex"))
    assert body["durationSeconds"] == 6
    assert body["negativePrompt"] == "rain"
    assert body["generateAudio"] is True
    with pytest.raises(InvalidSpecError) as info:
        spec("vertex", "veo-3.1-lite-generate-001", seconds=8, resolution="4k")
    assert "allowed: 720p, 1080p" in info.value.message
