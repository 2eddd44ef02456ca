"""``reelforge sinks status``: how far each sink (Notion, webhooks, JSONL) has delivered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from reelforge.cli._batches import open_store
from reelforge.cli._common import out_console, print_json, reelforge_errors
from reelforge.cli._options import DbOption, JsonOption
from reelforge.core.errors import InvalidSpecError
from reelforge.sinks import SinkStatus, sink_status

__all__ = ["enable", "sinks_app", "status"]

sinks_app = typer.Typer(
    name="sinks",
    help="Inspect the sinks that receive job events (Notion, webhooks, JSONL).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_ERROR_WIDTH = 60


def status(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show each sink's cursor, how far it lags behind the event outbox, and its last error.

    Lists every sink that has delivered, failed or been disabled in this database.
    """
    with reelforge_errors(), open_store(db) as store:
        statuses = sink_status(store)
    if as_json:
        print_json({"sinks": [entry.to_dict() for entry in statuses]})
        return
    if not statuses:
        out_console.print("no sink has run against this database yet")
        return
    table = Table(title="sinks")
    for column, justify in (
        ("sink", "left"),
        ("cursor", "right"),
        ("lag events", "right"),
        ("lag seconds", "right"),
        ("delivered", "right"),
        ("skipped", "right"),
        ("disabled", "left"),
        ("last error", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]  # Rich's Literal
    for entry in statuses:
        table.add_row(
            escape(entry.name),
            str(entry.cursor),
            str(entry.lag_events),
            f"{entry.lag_seconds:.0f}",
            str(entry.delivered),
            str(entry.skipped),
            _disabled(entry),
            escape(_last_error(entry)),
        )
    out_console.print(table)


def enable(
    name: Annotated[
        str, typer.Argument(help="The sink's name, as `sinks status` shows it.", show_default=False)
    ],
    db: DbOption = None,
) -> None:
    """Re-enable a sink its destination disabled (a webhook's 410 Gone).

    It resumes from its cursor at its next run: nothing recorded meanwhile is lost.
    """
    with reelforge_errors(), open_store(db) as store:
        known = {entry.name for entry in store.sink_cursors()}
        if name not in known:
            names = ", ".join(sorted(known)) or "none yet"
            raise InvalidSpecError(
                f"unknown sink {name!r}; known sinks: {names}", field="name", value=name
            )
        was_disabled = store.enable_sink(name)
    if was_disabled:
        out_console.print(f"{escape(name)} enabled; it resumes from its cursor")
    else:
        out_console.print(f"{escape(name)} was not disabled")


sinks_app.command("status")(status)
sinks_app.command("enable")(enable)


def _disabled(entry: SinkStatus) -> str:
    return "yes" if entry.disabled else "no"


def _last_error(entry: SinkStatus) -> str:
    if entry.last_error is None:
        return ""
    text = " ".join(entry.last_error.split())
    if len(text) > _ERROR_WIDTH:
        text = text[: _ERROR_WIDTH - 1] + "…"
    if entry.last_error_at is not None:
        when = datetime.fromtimestamp(entry.last_error_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        text = f"{when} {text}"
    return text
