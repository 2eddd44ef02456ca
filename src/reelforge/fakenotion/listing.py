"""Running a data source query over its pages: filter, sorts and cursor pagination."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reelforge.fakenotion.errors import NotionApiError, validation_error
from reelforge.fakenotion.objects import Page, normalize_id
from reelforge.fakenotion.query import Values, compile_filter, sort_key
from reelforge.fakenotion.schema import PropertySchema

__all__ = ["MAX_PAGE_SIZE", "Paging", "parse_paging", "run_query"]

MAX_PAGE_SIZE = 100
"""The most results one query answer holds (and the default ``page_size``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Paging:
    """A query's ``page_size`` and ``start_cursor``."""

    page_size: int
    start_cursor: str | None


def parse_paging(payload: dict[str, Any]) -> Paging:
    """Check ``page_size`` (1 to 100) and ``start_cursor`` (a string) like Notion."""
    page_size = payload.get("page_size", MAX_PAGE_SIZE)
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise validation_error("body.page_size", "an integer", page_size)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        expected = f"≤ `{MAX_PAGE_SIZE}`" if page_size > MAX_PAGE_SIZE else "≥ `1`"
        raise validation_error("body.page_size", expected, page_size)
    cursor = payload.get("start_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise validation_error("body.start_cursor", "a string", cursor)
    return Paging(page_size=page_size, start_cursor=cursor)


def _page_key(key: Callable[[Values, str, str], Any]) -> Callable[[Page], Any]:
    def page_key(page: Page) -> Any:
        return key(page.values, page.created_time, page.last_edited_time)

    return page_key


def run_query(
    pages: list[Page], schema: dict[str, PropertySchema], payload: dict[str, Any], paging: Paging
) -> dict[str, Any]:
    """The list answer for ``pages`` (in creation order) under ``payload``'s filter and sorts."""
    if payload.get("filter") is not None:
        predicate = compile_filter(payload["filter"], schema)
        pages = [p for p in pages if predicate(p.values)]
    sorts = payload.get("sorts")
    if sorts is not None:
        if not isinstance(sorts, list):
            raise validation_error("body.sorts", "an array", sorts)
        keys = [sort_key(item, schema, path=f"body.sorts[{i}]") for i, item in enumerate(sorts)]
        pages = list(pages)
        for key, reverse in reversed(keys):
            pages.sort(key=_page_key(key), reverse=reverse)
    start = 0
    if paging.start_cursor is not None:
        ids = [p.id for p in pages]
        try:
            start = ids.index(normalize_id(paging.start_cursor, path="body.start_cursor"))
        except (ValueError, NotionApiError):
            raise NotionApiError(
                400,
                "validation_error",
                f"start_cursor provided is invalid: {paging.start_cursor}",
            ) from None
    end = start + paging.page_size
    more = end < len(pages)
    return {
        "object": "list",
        "results": [p.to_json(schema) for p in pages[start:end]],
        "next_cursor": pages[end].id if more else None,
        "has_more": more,
        "type": "page_or_data_source",
        "page_or_data_source": {},
    }
