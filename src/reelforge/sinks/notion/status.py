"""How far the Notion sink has got: its cursor, lag, last error, and the pages it knows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reelforge.sinks.notion.sink import SINK_NAME
from reelforge.sinks.status import SinkStatus, sink_status
from reelforge.store import Store

__all__ = ["NotionStatus", "known_pages", "notion_status"]


@dataclass(frozen=True, kw_only=True, slots=True)
class NotionStatus:
    """The Notion sink's progress through the outbox, and how many job pages it recorded."""

    sink: SinkStatus
    pages: int
    """Jobs whose Notion page id is recorded in this database."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {**self.sink.to_dict(), "pages": self.pages}


def known_pages(store: Store) -> int:
    """How many jobs have a recorded Notion page."""
    return store.count_external_ids(SINK_NAME)


def notion_status(store: Store, *, now: Callable[[], float] = time.time) -> NotionStatus:
    """The Notion sink's status in ``store`` (cursor 0 and no pages if it never ran)."""
    [status] = sink_status(store, [SINK_NAME], now=now)
    return NotionStatus(sink=status, pages=known_pages(store))
