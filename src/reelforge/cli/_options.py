"""Options several commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "BaseUrlOption",
    "ConfigOption",
    "CreateTimeoutOption",
    "DbOption",
    "EventsJsonlOption",
    "JobTimeoutOption",
    "JsonOption",
    "MaxInFlightOption",
    "NotionOption",
    "OutOption",
    "RpmOption",
    "SimulatorOption",
    "SinkWaitOption",
    "WebhookOption",
]

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
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Settings file (default: ./reelforge.toml when it exists).", dir_okay=False
    ),
]
NotionOption = Annotated[
    bool | None,
    typer.Option(
        "--notion/--no-notion",
        help="Keep a Notion row per job up to date (NOTION_TOKEN, NOTION_BATCH_DATABASE_ID; "
        "default: as [sinks.notion] in the settings file says).",
    ),
]
WebhookOption = Annotated[
    list[str] | None,
    typer.Option(
        "--webhook",
        help="POST every job event to this URL, signed with REELFORGE_WEBHOOK_SECRET "
        "(Standard Webhooks). Repeatable.",
        show_default=False,
    ),
]
EventsJsonlOption = Annotated[
    Path | None,
    typer.Option("--events-jsonl", help="Append every job event to this file, one JSON per line."),
]
SinkWaitOption = Annotated[
    float,
    typer.Option(
        min=0,
        help="Seconds the sinks get after the batch to deliver what is left; the rest waits "
        "for the next run or `reelforge sinks sync`.",
    ),
]
MaxInFlightOption = Annotated[
    int, typer.Option(min=1, max=1000, help="Most videos in flight on the provider at once.")
]
RpmOption = Annotated[int | None, typer.Option(min=1, help="Most create requests per minute.")]
CreateTimeoutOption = Annotated[
    float,
    typer.Option(
        "--create-timeout",
        min=1,
        help="Seconds a create request may take before it is abandoned. A create whose "
        "answer was lost is sent again only after this plus the provider's listing lag "
        "(30 s), never sooner; until then the job is looked for in the provider's listing.",
    ),
]
JobTimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=1,
        help="Seconds a job may take on the provider before it is left for "
        "`reelforge reconcile` (after one last check).",
    ),
]
