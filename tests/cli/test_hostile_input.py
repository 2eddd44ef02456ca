"""Hostile places and prompts through the real CLI: an output folder that is a file or read-only,
a database that is a folder, unwritable or not a database, and prompts carrying control or
bidirectional-override characters. Each is refused with exit 2 and one line naming the option
or field, and the simulator (a separate server, as a gateway) saw no create at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from reelforge import Batch, Forge, JobSpec
from reelforge.cli import app
from reelforge.core.errors import ConfigError, InvalidSpecError
from reelforge.sim import EmbeddedSimulator, SimConfig

KEY = "sk-test-hostile-input"
RULE = "is not allowed in a prompt (control and bidirectional-override characters are refused)"

BATCH_YAML = 'batch: kites\njobs:\n  - {key: kite, prompt: "A red kite over dunes"}\n'
CAMPAIGN_YAML = """\
campaign: hostile
brand: Acme
product_category: sparkling water
big_idea: Keep up
defaults: {model: sora-2, seconds: 4, size: 1280x720}
dimensions:
  mood: [calm, MOOD]
template: "A {{ mood }} ad for {{ brand }}"
"""

HOSTILE = [
    pytest.param("\x00", "U+0000 (NULL)", id="nul"),
    pytest.param("\x1b", "U+001B (ESCAPE)", id="c0-escape"),
    pytest.param("\x7f", "U+007F (DELETE)", id="del"),
    pytest.param("\x85", "U+0085 (NEXT LINE)", id="c1-next-line"),
    pytest.param("\u202e", "U+202E (RIGHT-TO-LEFT OVERRIDE)", id="rlo"),
]


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedSimulator]:
    """A fast simulator on a loopback port, used as a remote gateway with a key."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with EmbeddedSimulator(SimConfig(time_scale=400.0, poll_after_min_ms=50)) as emb:
        yield emb


@pytest.fixture
def batch_file(tmp_path: Path) -> Path:
    path = tmp_path / "kites.yaml"
    path.write_text(BATCH_YAML, encoding="utf-8")
    return path


@pytest.fixture
def campaign_file(tmp_path: Path) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN_YAML.replace("MOOD", "bright"), encoding="utf-8")
    return path


@pytest.fixture
def not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n", encoding="utf-8")
    return path


def invoke(gateway: EmbeddedSimulator, *args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def refused(result: Result, gateway: EmbeddedSimulator | None = None) -> str:
    """The one ``error:`` line of a refusal: exit 2, no traceback, nothing sent."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    if gateway is not None:
        assert gateway.sim.log.creates == []
        assert gateway.sim.log.requests == []
    return lines[0]


# -- --out ----------------------------------------------------------------------------------------


def test_run_with_an_out_that_is_a_file(
    gateway: EmbeddedSimulator, batch_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reelforge-out"
    out.write_text("a file\n", encoding="utf-8")

    result = invoke(
        gateway, "run", batch_file, "--base-url", gateway.base_url,
        "--db", tmp_path / "db.sqlite", "--out", out,
    )  # fmt: skip

    assert refused(result, gateway) == f"error: --out {out} is a file, not a folder"
    assert out.read_text(encoding="utf-8") == "a file\n"


def test_generate_with_an_out_that_is_a_file(gateway: EmbeddedSimulator, tmp_path: Path) -> None:
    out = tmp_path / "reelforge-out"
    out.touch()

    result = invoke(gateway, "generate", "A red kite", "--base-url", gateway.base_url, "--out", out)

    assert refused(result, gateway) == f"error: --out {out} is a file, not a folder"


def test_campaign_run_with_an_out_that_is_a_file(
    gateway: EmbeddedSimulator, campaign_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reelforge-out"
    out.touch()

    result = invoke(
        gateway, "campaign", "run", campaign_file, "--base-url", gateway.base_url,
        "--db", tmp_path / "db.sqlite", "--out", out,
    )  # fmt: skip

    assert refused(result, gateway) == f"error: --out {out} is a file, not a folder"


def test_retry_with_an_out_that_is_a_file(gateway: EmbeddedSimulator, tmp_path: Path) -> None:
    out = tmp_path / "reelforge-out"
    out.touch()

    result = invoke(
        gateway, "retry", "kites", "--base-url", gateway.base_url,
        "--db", tmp_path / "db.sqlite", "--out", out,
    )  # fmt: skip

    assert refused(result, gateway) == f"error: --out {out} is a file, not a folder"
    assert not (tmp_path / "db.sqlite").exists()


def test_demo_with_an_out_that_is_a_file(tmp_path: Path) -> None:
    out = tmp_path / "reelforge-demo"
    out.touch()

    result = CliRunner().invoke(app, ["demo", "--out", str(out)])

    assert refused(result) == f"error: --out {out} is a file, not a folder"


def test_run_with_a_read_only_out(
    gateway: EmbeddedSimulator, batch_file: Path, tmp_path: Path, read_only_dir: Path
) -> None:
    result = invoke(
        gateway, "run", batch_file, "--base-url", gateway.base_url,
        "--db", tmp_path / "db.sqlite", "--out", read_only_dir,
    )  # fmt: skip

    assert refused(result, gateway) == (
        f"error: --out {read_only_dir}: read-only file system (cannot create files there)"
    )


def test_generate_with_an_out_inside_a_read_only_folder(
    gateway: EmbeddedSimulator, read_only_dir: Path
) -> None:
    out = read_only_dir / "videos"

    result = invoke(gateway, "generate", "A red kite", "--base-url", gateway.base_url, "--out", out)

    assert refused(result, gateway) == (
        f"error: --out {out}: read-only file system (cannot create the folder)"
    )


def test_generate_with_an_out_under_sys(gateway: EmbeddedSimulator) -> None:
    line = refused(
        invoke(gateway, "generate", "A red kite", "--base-url", gateway.base_url, "--out", "/sys"),
        gateway,
    )

    assert line.startswith("error: --out /sys: ")
    assert line.endswith("(cannot create files there)")


# -- --db -----------------------------------------------------------------------------------------


def _command(
    name: str, gateway: EmbeddedSimulator, db: str | Path, tmp_path: Path
) -> list[str | Path]:
    """``name`` with ``--db db`` and whatever else it needs to get that far."""
    batch = tmp_path / "kites.yaml"
    batch.write_text(BATCH_YAML, encoding="utf-8")
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(CAMPAIGN_YAML.replace("MOOD", "bright"), encoding="utf-8")
    remote = ["--base-url", gateway.base_url]
    out = ["--out", tmp_path / "out"]
    return {
        "run": ["run", batch, *remote, *out, "--db", db],
        "campaign run": ["campaign", "run", campaign, *remote, *out, "--db", db],
        "retry": ["retry", "kites", *remote, "--db", db],
        "reconcile": ["reconcile", *remote, "--db", db],
        "status": ["status", "--db", db],
        "cost": ["cost", "--db", db],
        "watch": ["watch", "--db", db],
        "cancel": ["cancel", "kites", "--db", db],
    }[name]


COMMANDS = ["run", "campaign run", "retry", "reconcile", "status", "cost", "watch", "cancel"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_db_that_is_a_folder(gateway: EmbeddedSimulator, tmp_path: Path, command: str) -> None:
    folder = tmp_path / "state"
    folder.mkdir()

    result = invoke(gateway, *_command(command, gateway, folder, tmp_path))

    assert refused(result, gateway) == (
        f"error: --db {folder}: is a folder; give a database file path or URL"
    )
    assert list(folder.iterdir()) == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_db_that_is_not_a_database(
    gateway: EmbeddedSimulator, tmp_path: Path, not_a_database: Path, command: str
) -> None:
    result = invoke(gateway, *_command(command, gateway, not_a_database, tmp_path))

    assert refused(result, gateway) == (
        f"error: --db {not_a_database}: is not a SQLite database (give a database file, or a "
        "path where none exists yet)"
    )
    assert not_a_database.read_text(encoding="utf-8") == "these are my notes, not a database\n"


@pytest.mark.parametrize("command", ["run", "campaign run", "status", "reconcile"])
@pytest.mark.parametrize("name", ["new.db", "existing.db"])
def test_a_db_in_a_read_only_folder(
    gateway: EmbeddedSimulator, tmp_path: Path, read_only_dir: Path, command: str, name: str
) -> None:
    db = f"sqlite:///{read_only_dir / name}"

    result = invoke(gateway, *_command(command, gateway, db, tmp_path))

    assert refused(result, gateway) == (
        f"error: --db {read_only_dir / name}: read-only file system "
        f"(cannot create files in {read_only_dir})"
    )


@pytest.mark.parametrize("command", ["run", "status", "cost", "watch"])
@pytest.mark.parametrize("db", ["/proc/reelforge.db", "/proc/reelforge/x.db"])
def test_a_db_under_proc(gateway: EmbeddedSimulator, tmp_path: Path, command: str, db: str) -> None:
    line = refused(invoke(gateway, *_command(command, gateway, db, tmp_path)), gateway)

    assert line.startswith(f"error: --db {db}: ")
    assert "(cannot create" in line


# -- prompts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("char", "label"), HOSTILE)
def test_generate_refuses_the_prompt(gateway: EmbeddedSimulator, char: str, label: str) -> None:
    result = invoke(
        gateway, "generate", f"A red kite{char} over dunes", "--base-url", gateway.base_url
    )

    assert refused(result, gateway) == f"error: prompt: character {label} at position 11 {RULE}"


@pytest.mark.parametrize(("char", "label"), HOSTILE)
def test_a_yaml_batch_refuses_the_prompt(
    gateway: EmbeddedSimulator, tmp_path: Path, char: str, label: str
) -> None:
    batch = tmp_path / "hostile.yaml"
    escaped = f"\\u{ord(char):04x}"  # YAML reads raw controls as a syntax error; escapes are text
    batch.write_text(
        f'jobs:\n  - prompt: "A red kite"\n  - prompt: "A red kite{escaped} over dunes"\n',
        encoding="utf-8",
    )

    result = invoke(
        gateway, "run", batch, "--base-url", gateway.base_url,
        "--db", tmp_path / "db.sqlite", "--out", tmp_path / "out",
    )  # fmt: skip

    assert refused(result, gateway) == (
        f"error: {batch}:3: jobs[1].prompt: character {label} at position 11 {RULE}"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("char", "label"), HOSTILE)
def test_a_csv_batch_refuses_the_prompt(
    gateway: EmbeddedSimulator, tmp_path: Path, char: str, label: str
) -> None:
    batch = tmp_path / "hostile.csv"
    batch.write_text(
        f'prompt,seconds\nA red kite,4\n"A red kite{char} over dunes",4\n', encoding="utf-8"
    )

    result = invoke(
        gateway, "run", batch, "--base-url", gateway.base_url,
        "--db", tmp_path / "db.sqlite", "--out", tmp_path / "out",
    )  # fmt: skip

    assert refused(result, gateway) == (
        f"error: {batch}:row 3: prompt: character {label} at position 11 {RULE}"
    )


def test_a_campaign_whose_prompt_holds_an_override_is_refused(
    gateway: EmbeddedSimulator, tmp_path: Path
) -> None:
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(CAMPAIGN_YAML.replace("MOOD", '"lo\\u202efi"'), encoding="utf-8")

    result = invoke(
        gateway, "campaign", "run", campaign, "--base-url", gateway.base_url,
        "--db", tmp_path / "db.sqlite", "--out", tmp_path / "out",
    )  # fmt: skip

    line = refused(result, gateway)
    assert f"U+202E (RIGHT-TO-LEFT OVERRIDE) at position 5 {RULE}" in line
    assert line.startswith(f"error: {campaign}:")


def test_tabs_and_line_breaks_are_still_sent(gateway: EmbeddedSimulator, tmp_path: Path) -> None:
    prompt = "A red kite\tover dunes\nat dawn"

    result = invoke(
        gateway, "generate", prompt, "--base-url", gateway.base_url, "--out", tmp_path, "--json"
    )

    assert result.exit_code == 0, result.output
    assert [create.prompt for create in gateway.sim.log.creates] == [prompt]


def test_a_batch_with_tabs_and_line_breaks_runs(gateway: EmbeddedSimulator, tmp_path: Path) -> None:
    batch = tmp_path / "multiline.csv"
    batch.write_text('key,prompt\nkite,"A red kite\tover dunes\r\nat dawn"\n', encoding="utf-8")

    result = invoke(
        gateway, "run", batch, "--base-url", gateway.base_url,
        "--db", tmp_path / "db.sqlite", "--out", tmp_path / "out", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert [c.prompt for c in gateway.sim.log.creates] == ["A red kite\tover dunes\r\nat dawn"]


# -- the library gets the same checks -------------------------------------------------------------


async def test_the_library_refuses_the_same_places_and_prompts(
    gateway: EmbeddedSimulator, tmp_path: Path, not_a_database: Path
) -> None:
    out = tmp_path / "reelforge-out"
    out.touch()
    batch = Batch.from_specs("kites", [JobSpec(prompt="A red kite")])

    async with Forge(base_url=gateway.base_url, out=out, db=not_a_database) as forge:
        with pytest.raises(ConfigError, match="is a file, not a folder"):
            await forge.generate(JobSpec(prompt="A red kite"))
        with pytest.raises(ConfigError, match="is not a SQLite database"):
            await forge.run(batch, out=tmp_path / "videos")
        with pytest.raises(InvalidSpecError, match=r"U\+202E .* at position 2 "):
            await forge.generate(JobSpec(prompt="A\u202e kite"), out=tmp_path / "videos")

    assert gateway.sim.log.creates == []
    assert gateway.sim.log.requests == []
