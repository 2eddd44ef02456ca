"""``reelforge worker``: run queued jobs of every batch on a database until stopped."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer

from reelforge.app.forge import Forge
from reelforge.cli._common import err_console, reelforge_errors
from reelforge.cli._options import (
    BaseUrlOption,
    ConfigOption,
    CreateTimeoutOption,
    DbOption,
    EventsJsonlOption,
    JobTimeoutOption,
    MaxInFlightOption,
    NotionOption,
    RpmOption,
    WebhookOption,
)
from reelforge.cli._sinkflags import report_sinks, sink_plan
from reelforge.core.config import display_url
from reelforge.core.errors import ConfigError
from reelforge.core.paths import check_database
from reelforge.core.polling import PollPolicy
from reelforge.engine import Engine, ReconcilePolicy

__all__ = ["worker"]


def worker(
    db: DbOption = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=10_000,
            help="Most jobs of one account each process on the database runs at once (DBOS "
            "keeps it with the account's queue, so the latest worker's value applies to all; "
            "default: as it is).",
        ),
    ] = None,
    base_url: BaseUrlOption = None,
    max_in_flight: MaxInFlightOption = 4,
    rpm: RpmOption = None,
    timeout: JobTimeoutOption = 3600.0,
    create_timeout: CreateTimeoutOption = 90.0,
    config: ConfigOption = None,
    notion: NotionOption = None,
    webhook: WebhookOption = None,
    events_jsonl: EventsJsonlOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Once running, print one JSON line on stdout (executor, database, concurrency).",
        ),
    ] = False,
) -> None:
    """Run the queued jobs of every batch on the database until stopped (Ctrl+C or SIGTERM).

    Start as many workers as you like, on one machine or many, on one PostgreSQL database
    (SQLite: one machine): each job runs in one of them, and the account's in-flight cap
    (--max-in-flight) and create rate (--rpm) hold across all of them; give every process the
    same ones. A worker also recovers the jobs of processes that died (killed, or silent past
    their 30 s lease) and watches batches no process runs, such as those enqueued with
    `reelforge run --detach`. It needs the provider credentials the jobs were sent with
    (OPENAI_API_KEY and --base-url); the built-in simulator is never used. Sinks (--notion,
    --webhook, --events-jsonl, or reelforge.toml) follow every job event meanwhile.

    Exit codes: 0 stopped, 1 its lease was lost (another process took its jobs over),
    2 bad input.
    """
    from reelforge.app.worker import work  # noqa: PLC0415  # heavy import

    with reelforge_errors():
        sinks = sink_plan(config, notion=notion, webhooks=webhook, events_jsonl=events_jsonl)
        try:
            forge = Forge(
                poll=PollPolicy(timeout=timeout),
                reconcile=ReconcilePolicy(create_timeout=create_timeout),
                base_url=base_url,
                simulator=False,
                db=db,
                max_in_flight=max_in_flight,
                rpm=rpm,
            )
        except ConfigError as exc:
            raise ConfigError(
                "no API key: a worker runs jobs with the credentials they were sent with, never "
                "the built-in simulator; set OPENAI_API_KEY and pass --base-url (for a "
                "simulator, start `reelforge sim` and pass its address)"
            ) from exc
        check_database(forge.db_url)

        def ready(engine: Engine) -> None:
            err_console.print(
                f"worker {engine.executor_id} running jobs from {display_url(forge.db_url)}"
                + (f", at most {concurrency} at once" if concurrency else "")
                + f"; provider {forge.providers().describe()}"
                + (f"; sinks: {sinks.describe()}" if sinks else "")
                + ". Ctrl+C stops.",
                highlight=False,
            )
            if as_json:
                line = {
                    "executor": engine.executor_id,
                    "db": display_url(forge.db_url),
                    "concurrency": concurrency,
                }
                sys.stdout.write(json.dumps(line) + "\n")
                sys.stdout.flush()

        follower = asyncio.run(work(forge, concurrency=concurrency, sinks=sinks, on_ready=ready))
    report_sinks(follower)
    err_console.print("stopped")
