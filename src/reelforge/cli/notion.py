"""``reelforge notion``: set up the Notion database, sync the outbox to it, show the sink."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from reelforge.cli._batches import open_store
from reelforge.cli._common import ExitCode, fail, out_console, print_json, reelforge_errors
from reelforge.cli._options import DbOption, JsonOption
from reelforge.sinks.config import load_config, resolve_sinks
from reelforge.sinks.notion import (
    InitReport,
    NotionSettings,
    init_database,
    make_client,
)
from reelforge.sinks.notion.status import NotionStatus, notion_status
from reelforge.sinks.notion.sync import sync_notion

__all__ = ["init", "notion_app", "status", "sync"]

notion_app = typer.Typer(
    name="notion",
    help="Keep one row per job in a Notion database (NOTION_TOKEN, NOTION_BATCH_DATABASE_ID).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def init(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be added; change nothing.")
    ] = False,
    as_json: JsonOption = False,
    campaign: Annotated[
        Path | None,
        typer.Option(
            help="A campaign file: add one property per dimension.",
            exists=True,
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Add the properties reelforge writes to the Notion database, in one request.

    Nothing is ever deleted or retyped: a property with a needed name and another type stops
    the command (exit 2) before anything is changed.
    """
    with reelforge_errors():
        settings = _settings()
        dimensions: list[str] = []
        if campaign is not None:
            from reelforge.campaign import Campaign  # noqa: PLC0415  # only with --campaign

            dimensions = list(Campaign.load(campaign).dimensions)
        report = asyncio.run(_init(settings, dimensions, dry_run=dry_run))
    if as_json:
        print_json(report.to_dict())
        return
    _print_report(report)


def sync(
    db: DbOption = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Stop starting deliveries after this many seconds.", min=0),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Deliver every job event not yet in Notion, then stop.

    Exit 1 if events are left (Notion unavailable past --timeout); running it again continues.
    """
    with reelforge_errors():
        settings = _settings()
        with open_store(db) as store:
            deadline = time.monotonic() + timeout if timeout is not None else None
            caught_up, state = asyncio.run(sync_notion(store, settings, deadline=deadline))
    if as_json:
        print_json({"caught_up": caught_up, **state.to_dict()})
    else:
        _print_status(state)
    if not caught_up:
        fail(
            f"{state.sink.lag_events} events are still to deliver; run `reelforge notion sync` "
            "again",
            ExitCode.FAILED,
        )


def status(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show the Notion sink's cursor, how far it lags, its last error and its page count."""
    with reelforge_errors(), open_store(db) as store:
        state = notion_status(store)
    if as_json:
        print_json(state.to_dict())
        return
    _print_status(state)


notion_app.command("init")(init)
notion_app.command("sync")(sync)
notion_app.command("status")(status)


def _settings() -> NotionSettings:
    """The environment's token and database, with ``[sinks.notion]`` of ./reelforge.toml
    (property names, public base URL, data source) as ``run`` reads them."""
    plan = resolve_sinks(load_config(), notion=True)
    settings = plan.notion if plan.notion is not None else NotionSettings()
    settings.require()
    return settings


async def _init(settings: NotionSettings, dimensions: list[str], *, dry_run: bool) -> InitReport:
    client = make_client(settings)
    try:
        return await init_database(client, settings, dimensions=dimensions, dry_run=dry_run)
    finally:
        await client.aclose()


def _print_report(report: InitReport) -> None:
    where = escape(report.data_source_name or report.data_source_id)
    verb = "would add" if report.dry_run else "added"
    if report.added:
        out_console.print(f"{verb} {len(report.added)} properties to {where}:")
        for name in report.added:
            out_console.print(f"  + {escape(name)}")
    for name, options in report.options_added.items():
        listed = ", ".join(escape(o) for o in options)
        out_console.print(f"{verb} options to {escape(name)}: {listed}")
    if not report.added and not report.options_added:
        out_console.print(f"{where} already has every property reelforge writes")
    for note in report.notes:
        out_console.print(f"note: {escape(note)}")


def _print_status(state: NotionStatus) -> None:
    sink = state.sink
    lines = [
        ("cursor", f"{sink.cursor} of {sink.head}"),
        ("lag", f"{sink.lag_events} events, {sink.lag_seconds:.0f} s"),
        ("delivered", str(sink.delivered)),
        ("skipped", str(sink.skipped)),
        ("pages", str(state.pages)),
        ("disabled", f"yes: {sink.disabled_reason}" if sink.disabled else "no"),
        ("last error", _last_error(state)),
    ]
    for label, value in lines:
        out_console.print(f"{label:>10}  {escape(value)}")


def _last_error(state: NotionStatus) -> str:
    sink = state.sink
    if sink.last_error is None:
        return "none"
    if sink.last_error_at is None:
        return sink.last_error
    when = datetime.fromtimestamp(sink.last_error_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{when} {sink.last_error}"
