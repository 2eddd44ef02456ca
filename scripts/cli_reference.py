"""Write docs/cli.md from the commands' own --help (tests/test_cli_reference.py checks it).

python scripts/cli_reference.py
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from reelforge.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [
    "demo",
    "generate",
    "run",
    "status",
    "watch",
    "cost",
    "models",
    "retry",
    "cancel",
    "poke",
    "reconcile",
    "sim",
    "serve",
    "worker",
    "campaign",
    "campaign plan",
    "campaign run",
    "notion",
    "notion init",
    "notion sync",
    "notion status",
    "sinks",
    "sinks status",
    "sinks enable",
    "sinks sync",
    "fake-notion",
]
"""Every command and sub-command, in the order of the reference."""


def render() -> str:
    """The whole reference, as Markdown."""
    runner = CliRunner()
    parts = [
        "# Command-line reference\n",
        "Generated from each command's `--help` by `python scripts/cli_reference.py`;"
        " a test keeps it current.\n",
    ]
    for command in [None, *COMMANDS]:
        args = [*command.split(), "--help"] if command else ["--help"]
        result = runner.invoke(app, args, env={"COLUMNS": "100", "NO_COLOR": "1"})
        if result.exit_code != 0:
            raise SystemExit(f"reelforge {' '.join(args)} failed: {result.output}")
        parts.append(f"## reelforge {command or ''}".rstrip() + "\n")
        parts.append("```\n" + result.output.rstrip() + "\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    (ROOT / "docs" / "cli.md").write_text(render(), encoding="utf-8")
