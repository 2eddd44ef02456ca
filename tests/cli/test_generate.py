from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from reelforge.cli import app
from reelforge.sim import EmbeddedSimulator, SimConfig
from reelforge.sim.config import ExtraModel

SECRET = "sk-test-secret-value-123"


@pytest.mark.parametrize(
    ("args", "field_message"),
    [
        (["--seconds", "10"], "allowed: 4, 8, 12"),
        (["--seconds", "25"], "allowed: 4, 8, 12"),
        (["--size", "1:1"], "allowed: 9:16, 16:9, 720x1280, 1280x720"),
        (["--size", "1792x1024"], "allowed: 720x1280, 1280x720"),
        (["--input-reference", "missing.png"], "input reference"),
    ],
)
def test_bad_input_exits_2_and_sends_nothing(
    runner: CliRunner,
    gateway: EmbeddedSimulator,
    tmp_path: Path,
    args: list[str],
    field_message: str,
) -> None:
    result = runner.invoke(
        app,
        ["generate", "A kite", "--base-url", gateway.base_url, "--out", str(tmp_path), *args],
    )
    assert result.exit_code == 2, result.output
    assert field_message in result.output
    assert gateway.sim.log.requests == []
    assert list(tmp_path.iterdir()) == []


def test_empty_prompt_exits_2(runner: CliRunner, gateway: EmbeddedSimulator) -> None:
    result = runner.invoke(app, ["generate", "  ", "--base-url", gateway.base_url])
    assert result.exit_code == 2
    assert "prompt is empty" in result.output
    assert gateway.sim.log.requests == []


def test_non_numeric_seconds_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["generate", "A kite", "--seconds", "ten"])
    assert result.exit_code == 2
    assert "seconds" in result.output


@pytest.mark.slow
def test_generate_on_the_embedded_simulator(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "generate",
            "A red kite over dunes",
            "--seconds",
            "4",
            "--size",
            "16:9",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(
        "Using the built-in simulator at http://127.0.0.1:"
    )
    (job_dir,) = tmp_path.iterdir()
    record = json.loads((job_dir / "job.json").read_text())
    assert record["state"] == "done"
    assert record["spec"]["size"] == "1280x720"
    assert record["cost"]["estimated"] == "0.4000"
    states = [entry["state"] for entry in record["history"] if entry["kind"] == "state"]
    assert states[-2:] == ["completed", "downloading"]
    for name in ("video", "thumbnail", "spritesheet"):
        asset = record["assets"][name]
        data = (job_dir / asset["file"]).read_bytes()
        assert len(data) == asset["bytes"]
        assert hashlib.sha256(data).hexdigest() == asset["sha256"]
    assert not list(job_dir.glob("*.part"))
    assert "$0.40" in result.output


@pytest.mark.slow
def test_json_output_and_no_secret_anywhere(
    runner: CliRunner, gateway: EmbeddedSimulator, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "generate",
            "A lighthouse",
            "--base-url",
            gateway.base_url,
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["state"] == "done"
    assert data["simulator"] is False
    assert len(gateway.sim.log.creates) == 1
    assert gateway.sim.log.creates[0].video_id == data["remote_id"]
    assert data["assets"]["video"]["sha256"] == gateway.sim.asset_sha256(data["remote_id"], "video")
    job_json = (Path(data["dir"]) / "job.json").read_text()
    assert SECRET not in job_json
    assert SECRET not in result.output


def test_unknown_model_on_a_server_that_lacks_it_suggests_base_url(
    runner: CliRunner, gateway: EmbeddedSimulator, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "generate",
            "A kite",
            "--model",
            "sora-3",
            "--base-url",
            gateway.base_url,
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "sora-3" in result.output
    assert "--base-url" in result.output
    assert SECRET not in result.output


# -- one job on the durable engine ----------------------------------------------------------------


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedSimulator]:
    """A fast simulator on a loopback port, used as a gateway with a key; it serves a
    ``veo-3.1`` only the server validates (8 seconds only)."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    config = SimConfig(
        time_scale=400.0,
        poll_after_min_ms=50,
        extra_models={"veo-3.1": ExtraModel(seconds=(8,))},
    )
    with EmbeddedSimulator(config) as emb:
        yield emb


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where temporary folders go during the test (``tempfile``'s own setting), and the
    current folder elsewhere in ``tmp_path``: both can be checked for leftovers."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return root


def _generate(runner: CliRunner, fast: EmbeddedSimulator, *args: str | Path) -> Result:
    return runner.invoke(
        app, ["generate", "--base-url", fast.base_url, *(str(arg) for arg in args)]
    )


def test_the_files_land_flat_in_out_job_and_the_throwaway_database_is_removed(
    runner: CliRunner, fast: EmbeddedSimulator, tmp_path: Path, temp_root: Path
) -> None:
    out = tmp_path / "out"

    result = _generate(runner, fast, "A red kite over dunes", "--out", out, "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["state"] == "done"
    assert data["database"] is None
    assert data["error"] is None
    (job_dir,) = out.iterdir()
    assert job_dir.name == data["job_id"]
    assert re.fullmatch(r"\d{8}-\d{6}-a-red-kite-over-dunes", data["job_id"])
    assert Path(data["dir"]) == job_dir
    assert sorted(p.name for p in job_dir.iterdir()) == [
        "job.json",
        "spritesheet.jpg",
        "thumbnail.webp",
        "video.mp4",
    ]
    record = json.loads((job_dir / "job.json").read_text())
    assert record["state"] == "done"
    assert record["batch"] == data["job_id"]
    assert record["remote_id"] == data["remote_id"]
    assert list(data["assets"]) == ["video", "thumbnail", "spritesheet"]
    assert len(fast.sim.log.creates) == 1
    assert list(temp_root.iterdir()) == []  # the throwaway database is gone
    assert list(Path.cwd().iterdir()) == []  # no .reelforge/ where the command ran


def test_with_db_the_job_stays_recorded_for_reelforge_status(
    runner: CliRunner, fast: EmbeddedSimulator, tmp_path: Path, temp_root: Path
) -> None:
    db = tmp_path / "kept.db"

    result = _generate(runner, fast, "A lighthouse", "--out", tmp_path / "out", "--db", db)

    assert result.exit_code == 0, result.output
    (job_dir,) = (tmp_path / "out").iterdir()
    job_id = job_dir.name
    assert f"reelforge status {job_id}" in result.stdout
    status = runner.invoke(app, ["status", job_id, "--db", str(db), "--json"])
    assert status.exit_code == 0, status.output
    detail = json.loads(status.stdout)
    assert detail["batch"]["id"] == job_id
    (job,) = detail["jobs"]
    assert job["state"] == "done"
    assert job["remote_id"] == fast.sim.log.creates[0].video_id
    assert list(temp_root.iterdir()) == []
    assert list(Path.cwd().iterdir()) == []


def test_reelforge_db_url_keeps_the_job_too(
    runner: CliRunner,
    fast: EmbeddedSimulator,
    tmp_path: Path,
    temp_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("REELFORGE_DB_URL", f"sqlite:///{db}")

    result = _generate(runner, fast, "A lighthouse", "--out", tmp_path / "out", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["database"] == str(db)
    listing = runner.invoke(app, ["status", "--json"])
    assert [line["id"] for line in json.loads(listing.stdout)["batches"]] == [data["job_id"]]


def test_a_create_the_server_refuses_exits_1_with_its_message(
    runner: CliRunner, fast: EmbeddedSimulator, tmp_path: Path, temp_root: Path
) -> None:
    args = ("A kite", "--model", "veo-3.1", "--seconds", "4", "--out", tmp_path / "out")

    plain = _generate(runner, fast, *args)
    as_json = _generate(runner, fast, *args, "--json")

    server_says = "Invalid value: '4'. Supported values are: '8'."
    assert plain.exit_code == 1, plain.output
    assert server_says in plain.stderr
    assert "[invalid_request]" in plain.stderr
    assert "none (nothing was created)" in plain.stdout
    assert as_json.exit_code == 1, as_json.output
    assert server_says in as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["state"] == "failed"
    assert data["remote_id"] is None
    assert data["job_id"]
    error = data["error"]
    assert set(error) == {"category", "message", "code", "param"}
    assert error["category"] == "invalid_request"
    assert server_says in error["message"]
    assert "HTTP 400" in error["message"]
    record = json.loads((Path(data["dir"]) / "job.json").read_text())
    assert record["state"] == "failed"
    assert record["error"]["category"] == "invalid_request"
    assert (record["remote_id"], record["intent_at"]) == (None, None)
    assert fast.sim.log.creates == []
    posts = [r.status_code for r in fast.sim.log.requests if r.method == "POST"]
    assert posts == [400, 400]  # one create each, never resent
    assert list(temp_root.iterdir()) == []
    assert SECRET not in plain.output + as_json.output


def test_bad_input_exits_2_before_any_database_or_folder_is_made(
    runner: CliRunner, fast: EmbeddedSimulator, tmp_path: Path, temp_root: Path
) -> None:
    result = _generate(runner, fast, "A kite", "--seconds", "10", "--out", tmp_path / "out")

    assert result.exit_code == 2, result.output
    assert "seconds 10 is not supported by sora-2; allowed: 4, 8, 12" in result.stderr
    assert result.stdout == ""
    assert fast.sim.log.requests == []
    assert not (tmp_path / "out").exists()
    assert list(temp_root.iterdir()) == []
    assert list(Path.cwd().iterdir()) == []
