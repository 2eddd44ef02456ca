"""docs/cli.md is exactly what the commands' --help says (regenerate: scripts/cli_reference.py)."""

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from typer.main import get_command

from reelforge.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "scripts" / "cli_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current() -> None:
    documented = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert documented == _generator().render(), "run: python scripts/cli_reference.py"


def _all_commands(group: Any, prefix: str = "") -> set[str]:
    names = set()
    for name, command in group.commands.items():
        names.add(prefix + name)
        if hasattr(command, "commands"):  # a sub-command group
            names |= _all_commands(command, f"{prefix}{name} ")
    return names


def test_every_command_is_in_the_reference() -> None:
    assert _all_commands(get_command(app)) == set(_generator().COMMANDS)
