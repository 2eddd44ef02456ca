"""The root ``reelforge`` command and its sub-commands."""

from __future__ import annotations

from typing import Annotated

import typer

from reelforge import __version__
from reelforge.cli._sinksync import sync as sinks_sync
from reelforge.cli.campaign import campaign_app
from reelforge.cli.control import cancel, poke, retry
from reelforge.cli.cost import cost
from reelforge.cli.demo import demo
from reelforge.cli.generate import generate
from reelforge.cli.models import models
from reelforge.cli.notion import notion_app
from reelforge.cli.reconcile import reconcile
from reelforge.cli.run import run
from reelforge.cli.serve import serve
from reelforge.cli.sim import sim
from reelforge.cli.sinks import sinks_app
from reelforge.cli.status import status, watch
from reelforge.cli.worker import worker
from reelforge.fakenotion.cli import fake_notion

__all__ = ["app", "main"]

app = typer.Typer(
    name="reelforge",
    help="Turn video prompts into finished, verified video files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command()(demo)
app.command()(generate)
app.command()(run)
app.command()(status)
app.command()(watch)
app.command()(cost)
app.command()(models)
app.command()(retry)
app.command()(cancel)
app.command()(poke)
app.command()(reconcile)
app.command()(sim)
app.command()(serve)
app.command()(worker)
app.add_typer(campaign_app)
app.add_typer(notion_app)
sinks_app.command("sync")(sinks_sync)
app.add_typer(sinks_app)
app.command("fake-notion")(fake_notion)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reelforge {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Turn video prompts into finished, verified video files.

    With no OPENAI_API_KEY set, every command runs against the built-in simulator.
    """


def main() -> None:
    """Console-script entry point."""
    app()
