"""Options several commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["BaseUrlOption", "DbOption", "JsonOption", "OutOption", "SimulatorOption"]

OutOption = Annotated[Path, typer.Option(help="Folder for the videos: OUT/<batch>/<job>/.")]
DbOption = Annotated[
    str | None,
    typer.Option(help="Database: a SQLite path or a URL [env: REELFORGE_DB_URL]."),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(help="An OpenAI-Videos-compatible endpoint [env: OPENAI_BASE_URL]."),
]
SimulatorOption = Annotated[
    bool | None,
    typer.Option(
        "--simulator/--no-simulator",
        help="Force the built-in simulator on or off (default: on when no API key is set).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
