"""fal and Replicate jobs a model does not take: exit 2, the field and its allowed values named,
nothing sent, no database and no output folder — through ``run`` (a batch file) and
``generate`` (options)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelforge.cli import app
from reelforge.sim import EmbeddedSimulator, SimConfig

CASES = {
    "duration": (
        "{provider: fal, model: fal-ai/veo3.1, seconds: 5}",
        ["--provider", "fal", "--model", "fal-ai/veo3.1", "--seconds", "5"],
        ("seconds", "allowed: 4, 6, 8"),
    ),
    "resolution": (
        "{provider: replicate, model: google/veo-3.1, resolution: 4k}",
        ["--provider", "replicate", "--model", "google/veo-3.1", "--resolution", "4k"],
        ("resolution", "allowed: 720p, 1080p"),
    ),
    "aspect-ratio": (
        "{provider: fal, model: fal-ai/kling-video/v3/pro/text-to-video, aspect_ratio: '4:3'}",
        [
            *("--provider", "fal", "--model", "fal-ai/kling-video/v3/pro/text-to-video"),
            *("--aspect-ratio", "4:3"),
        ],
        ("aspect_ratio", "allowed: 16:9, 9:16, 1:1"),
    ),
    "image-not-taken": (
        "{provider: fal, model: fal-ai/veo3.1/fast, image: 'https://cdn.example/first.png'}",
        [
            *("--provider", "fal", "--model", "fal-ai/veo3.1/fast"),
            *("--image", "https://cdn.example/first.png"),
        ],
        ("image", "fal-ai/veo3.1/fast/image-to-video takes one"),
    ),
    "unknown-endpoint": (
        "{provider: fal, model: fal-ai/brand-new/v1}",
        ["--provider", "fal", "--model", "fal-ai/brand-new/v1"],
        ("model", "give its inputs in params"),
    ),
}


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> EmbeddedSimulator:
    """A simulator serving fal and Replicate as if remote, with keys set: nothing may reach it."""
    emb = EmbeddedSimulator(SimConfig())
    emb.__enter__()
    root = emb.base_url.removesuffix("/v1")
    monkeypatch.setenv("FAL_KEY", "fal-test-key")
    monkeypatch.setenv("FAL_QUEUE_BASE_URL", root)
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8-test-key")
    monkeypatch.setenv("REPLICATE_BASE_URL", root)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", emb.base_url)
    return emb


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_batch_job_the_model_does_not_take_exits_2(
    runner: CliRunner, sim: EmbeddedSimulator, tmp_path: Path, case: str
) -> None:
    line, _, (field, allowed) = CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(f"defaults: {line}\njobs:\n  - prompt: a paper boat\n", encoding="utf-8")
    try:
        result = runner.invoke(
            app,
            ["run", str(path), "--db", str(tmp_path / "db.sqlite"), "--out", str(tmp_path / "out")],
            env={"COLUMNS": "300"},
        )
    finally:
        sim.__exit__(None, None, None)
    assert result.exit_code == 2, result.output
    assert field in result.stderr
    assert allowed in result.stderr
    assert "bad.yaml:1" in result.stderr
    assert sim.sim.log.requests == []
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "db.sqlite").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_generate_with_options_the_model_does_not_take_exits_2(
    runner: CliRunner, sim: EmbeddedSimulator, tmp_path: Path, case: str
) -> None:
    _, options, (field, allowed) = CASES[case]
    try:
        result = runner.invoke(
            app,
            ["generate", "a paper boat", *options, "--out", str(tmp_path / "out")],
            env={"COLUMNS": "300"},
        )
    finally:
        sim.__exit__(None, None, None)
    assert result.exit_code == 2, result.output
    assert field in result.stderr
    assert allowed in result.stderr
    assert sim.sim.log.requests == []
    assert not (tmp_path / "out").exists()
