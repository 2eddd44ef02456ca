"""``sync_notion``: deliver the outbox to Notion now, until caught up (or a deadline)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from notion_client import AsyncClient

from reelforge.sinks.notion._api import make_client
from reelforge.sinks.notion.settings import NotionSettings
from reelforge.sinks.notion.sink import NotionSink
from reelforge.sinks.notion.status import NotionStatus, notion_status
from reelforge.sinks.runner import SinkRunner
from reelforge.store import Store

__all__ = ["sync_notion"]


async def sync_notion(
    store: Store,
    settings: NotionSettings,
    *,
    client: AsyncClient | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tuple[bool, NotionStatus]:
    """Run the Notion sink over the outbox with the sinks runner's ``drain``; whether it caught
    up, and its status afterwards.

    The data source is checked first, so a wrong token, an unshared database or a missing
    ``Job ID`` property fails at once (a delivery error) instead of being retried. No delivery
    starts after ``deadline`` (a time of ``clock``); None waits as long as it takes.
    """
    notion = client if client is not None else make_client(settings)
    sink = NotionSink(notion, settings, store=store)
    runner = SinkRunner(store, [sink], clock=clock, sleep=sleep)
    try:
        await sink.schema()
        caught_up = await runner.drain(deadline)
    finally:
        await runner.aclose()
    return caught_up, notion_status(store)
