"""``reelforge sinks sync``: deliver what the configured sinks have not received yet."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Annotated

import typer

from reelforge.cli._batches import open_store
from reelforge.cli._common import ExitCode, fail, out_console, print_json, reelforge_errors
from reelforge.cli._options import (
    ConfigOption,
    DbOption,
    EventsJsonlOption,
    JsonOption,
    NotionOption,
    WebhookOption,
)
from reelforge.cli._sinkflags import sink_plan
from reelforge.core.errors import ConfigError
from reelforge.sinks.base import Sink
from reelforge.sinks.config import build_sinks
from reelforge.sinks.runner import SinkRunner
from reelforge.sinks.status import SinkStatus, sink_status
from reelforge.store import Store

__all__ = ["sync"]


def sync(
    db: DbOption = None,
    config: ConfigOption = None,
    notion: NotionOption = None,
    webhook: WebhookOption = None,
    events_jsonl: EventsJsonlOption = None,
    timeout: Annotated[
        float | None,
        typer.Option(min=0, help="Stop starting deliveries after this many seconds."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Deliver every job event the configured sinks have not received yet, then stop.

    Sinks come from reelforge.toml and the flags, as for `reelforge run`. Exit 1 when events
    are left (a sink still down at --timeout); running it again continues where it stopped.
    """
    with reelforge_errors():
        plan = sink_plan(config, notion=notion, webhooks=webhook, events_jsonl=events_jsonl)
        if not plan:
            raise ConfigError(
                "no sinks configured: pass --notion, --webhook URL or --events-jsonl PATH, "
                "or add a [sinks] table to reelforge.toml"
            )
        with open_store(db) as store:
            deadline = time.monotonic() + timeout if timeout is not None else None
            sinks = build_sinks(plan, store=store)
            caught_up, statuses = asyncio.run(_sync(store, sinks, deadline))
    if as_json:
        print_json({"caught_up": caught_up, "sinks": [s.to_dict() for s in statuses]})
    else:
        for status in statuses:
            state = "caught up" if not status.lag_events else f"{status.lag_events} behind"
            error = f"; last error: {status.last_error}" if status.last_error else ""
            out_console.print(f"{status.name}: {state}{error}", markup=False)
    if not caught_up:
        fail("some events are still to deliver; run `reelforge sinks sync` again", ExitCode.FAILED)


async def _sync(
    store: Store, sinks: Sequence[Sink], deadline: float | None
) -> tuple[bool, list[SinkStatus]]:
    runner = SinkRunner(store, sinks)
    try:
        caught_up = await runner.drain(deadline)
    finally:
        await runner.aclose()
    return caught_up, sink_status(store, [sink.name for sink in sinks])
