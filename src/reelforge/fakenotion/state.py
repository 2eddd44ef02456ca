"""Everything the fake holds — databases, data sources, pages, the outage switch, the rate limiter
and the request log — and the operations behind each endpoint.

Handlers run on the server's thread while tests call the same object from theirs: every public
method takes the state's lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from reelforge.fakenotion.config import FakeNotionConfig
from reelforge.fakenotion.errors import MISSING, NotionApiError, not_found, validation_error
from reelforge.fakenotion.listing import parse_paging, run_query
from reelforge.fakenotion.log import RequestLog
from reelforge.fakenotion.objects import Database, DataSource, Page, new_id, normalize_id, now_iso
from reelforge.fakenotion.ratelimit import TokenBuckets
from reelforge.fakenotion.schema import (
    PropertySchema,
    apply_schema_update,
    copy_schema,
    parse_schema,
)
from reelforge.fakenotion.values import convert_value, validate_properties

__all__ = ["OUTAGE_STATUSES", "CreatedDatabase", "FakeNotionState"]

OUTAGE_STATUSES = (503, 529)
"""Statuses :meth:`FakeNotionState.set_outage` accepts."""

_PAGE_CREATE_KEYS = frozenset(
    {"parent", "properties", "icon", "cover", "children", "content", "markdown", "template",
     "position"}
)  # fmt: skip
_PAGE_UPDATE_KEYS = frozenset(
    {"properties", "icon", "cover", "is_locked", "template", "erase_content", "archived",
     "in_trash"}
)  # fmt: skip
_QUERY_KEYS = frozenset(
    {"filter", "sorts", "start_cursor", "page_size", "archived", "in_trash", "result_type"}
)


@dataclass(frozen=True, kw_only=True, slots=True)
class CreatedDatabase:
    """The ids of a database made with :meth:`FakeNotionState.create_database`."""

    database_id: str
    data_source_id: str
    """The database's first (and usually only) data source."""


def _unknown_keys(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key in body:
        if key not in allowed:
            raise validation_error(f"body.{key}", "not present", body[key])


def _body_object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise validation_error("body", "an object", body)
    return body


_T = TypeVar("_T")


def _lookup(table: Mapping[str, _T], raw_id: str, kind: str, path: str) -> _T:
    """The object of ``table`` with the id ``raw_id`` (any of Notion's id spellings), or
    Notion's 404 ``object_not_found``."""
    identifier = normalize_id(raw_id, path=path)
    found = table.get(identifier)
    if found is None:
        raise not_found(kind, identifier)
    return found


class FakeNotionState:
    """The fake's data and switches, shared by the HTTP app and in-process callers."""

    def __init__(
        self,
        config: FakeNotionConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or FakeNotionConfig()
        self._initial_config = self.config
        self.clock = clock
        self.log = RequestLog()
        self.limiter = TokenBuckets(self.config.requests_per_second, self.config.burst)
        self._lock = threading.RLock()
        self._outage: int | None = None
        self._databases: dict[str, Database] = {}
        self._data_sources: dict[str, DataSource] = {}
        self._pages: dict[str, Page] = {}

    # -- switches ---------------------------------------------------------------------------

    @property
    def outage(self) -> int | None:
        """The status every ``/v1`` request is answered with (503 or 529), or ``None``."""
        return self._outage

    def set_outage(self, status: int | None) -> None:
        """Answer every ``/v1`` request with ``status`` (503 or 529) until called with ``None``."""
        if status is not None and status not in OUTAGE_STATUSES:
            raise ValueError(f"outage status must be 503, 529 or None, not {status!r}")
        self._outage = status

    def configure_rate_limit(
        self,
        *,
        enabled: bool | None = None,
        requests_per_second: float | None = None,
        burst: int | None = None,
    ) -> None:
        """Change the rate limit while serving; buckets start full again."""
        changes: dict[str, Any] = {}
        if enabled is not None:
            changes["rate_limit"] = enabled
        if requests_per_second is not None:
            changes["requests_per_second"] = requests_per_second
        if burst is not None:
            changes["burst"] = burst
        merged = self.config.model_dump() | changes
        self.config = FakeNotionConfig.model_validate(merged)
        self.limiter.configure(self.config.requests_per_second, self.config.burst)

    def check_rate(self, token_key: str) -> int | None:
        """Spend one request of ``token_key``; the seconds to wait if it is over the limit."""
        if not self.config.rate_limit:
            return None
        return self.limiter.take(token_key, self.clock())

    def reset(self) -> None:
        """Forget every database, page and log record; end any outage; restore the rate limit
        settings the state was made with."""
        with self._lock:
            self.config = self._initial_config
            self._databases.clear()
            self._data_sources.clear()
            self._pages.clear()
            self._outage = None
            self.log.clear()
            self.limiter.configure(self.config.requests_per_second, self.config.burst)

    # -- databases and data sources ---------------------------------------------------------

    def create_database(
        self,
        title: str,
        properties: Mapping[str, Any],
        *,
        data_source_name: str | None = None,
    ) -> CreatedDatabase:
        """A database with one data source whose schema is ``properties`` (Notion's create
        shape: ``{"Name": {"title": {}}, "Cost": {"number": {"format": "dollar"}}}``)."""
        schema = parse_schema(dict(properties))
        with self._lock:
            stamp = now_iso()
            database = Database(
                id=new_id(), title=title, created_time=stamp, last_edited_time=stamp
            )
            self._databases[database.id] = database
            source_id = self._add_source(database, data_source_name or title, schema)
            return CreatedDatabase(database_id=database.id, data_source_id=source_id)

    def add_data_source(self, database_id: str, properties: Mapping[str, Any], *, name: str) -> str:
        """Add another data source to a database; its id."""
        schema = parse_schema(dict(properties))
        with self._lock:
            database = self._database(database_id)
            return self._add_source(database, name, schema)

    def _add_source(self, database: Database, name: str, schema: dict[str, PropertySchema]) -> str:
        stamp = now_iso()
        source = DataSource(
            id=new_id(),
            database_id=database.id,
            name=name,
            schema=schema,
            created_time=stamp,
            last_edited_time=stamp,
        )
        self._data_sources[source.id] = source
        database.data_source_ids.append(source.id)
        return source.id

    def _database(self, raw_id: str) -> Database:
        return _lookup(self._databases, raw_id, "database", "path.database_id")

    def _source(self, raw_id: str) -> DataSource:
        return _lookup(self._data_sources, raw_id, "data source", "path.data_source_id")

    def _page(self, raw_id: str) -> Page:
        return _lookup(self._pages, raw_id, "page", "path.page_id")

    def database_json(self, database_id: str) -> dict[str, Any]:
        """``GET /v1/databases/{id}``."""
        with self._lock:
            database = self._database(database_id)
            names = {i: self._data_sources[i].name for i in database.data_source_ids}
            return database.to_json(names)

    def data_source_json(self, data_source_id: str) -> dict[str, Any]:
        """``GET /v1/data_sources/{id}``."""
        with self._lock:
            return self._source(data_source_id).to_json()

    def update_data_source(self, data_source_id: str, body: object) -> dict[str, Any]:
        """``PATCH /v1/data_sources/{id}``: ``title`` and ``properties`` (add, rename, retype,
        remove with ``null``). Values of a retyped property are converted or cleared."""
        payload = _body_object(body)
        _unknown_keys(payload, frozenset({"title", "icon", "properties", "in_trash", "archived",
                                          "parent"}))  # fmt: skip
        with self._lock:
            source = self._source(data_source_id)
            schema = copy_schema(source.schema)
            raw = payload.get("properties")
            if raw is not None:
                if not isinstance(raw, dict):
                    raise validation_error("body.properties", "an object", raw)
                apply_schema_update(schema, raw)
            title = payload.get("title")
            name = source.name
            if title is not None:
                name = _plain_title("body.title", title)
            self._migrate_values(source, schema)
            source.schema = schema
            source.name = name
            source.last_edited_time = now_iso()
            return source.to_json()

    def _migrate_values(self, source: DataSource, schema: dict[str, PropertySchema]) -> None:
        """Convert the pages' values of retyped properties, drop those of removed ones."""
        new_by_id = {prop.id: prop for prop in schema.values()}
        for page in self._pages.values():
            if page.data_source_id != source.id:
                continue
            for pid in list(page.values):
                prop = new_by_id.get(pid)
                if prop is None:
                    del page.values[pid]
                elif page.values[pid].get("type") != prop.type:
                    page.values[pid] = convert_value(page.values[pid], prop)

    # -- pages ------------------------------------------------------------------------------

    def create_page(self, body: object) -> dict[str, Any]:
        """``POST /v1/pages`` into a data source (or a database with exactly one)."""
        payload = _body_object(body)
        _unknown_keys(payload, _PAGE_CREATE_KEYS)
        with self._lock:
            source = self._parent_source(payload.get("parent", MISSING))
            raw = payload.get("properties", {})
            if not isinstance(raw, dict):
                raise validation_error("body.properties", "an object", raw)
            schema = copy_schema(source.schema)
            values = validate_properties(schema, raw)
            if self.config.require_title:
                title = next(p for p in schema.values() if p.type == "title")
                if title.id not in values:
                    raise NotionApiError(
                        400,
                        "validation_error",
                        f"body failed validation: body.properties.{title.name} should be "
                        "defined, instead was `undefined`.",
                    )
            stamp = now_iso()
            page = Page(
                id=new_id(),
                data_source_id=source.id,
                database_id=source.database_id,
                created_time=stamp,
                last_edited_time=stamp,
                values=values,
                icon=payload.get("icon"),
                cover=payload.get("cover"),
            )
            source.schema = schema
            self._pages[page.id] = page
            return page.to_json(source.schema)

    def _parent_source(self, parent: object) -> DataSource:
        if parent is MISSING:
            raise validation_error("body.parent", "defined")
        if not isinstance(parent, dict):
            raise validation_error("body.parent", "an object", parent)
        kind = parent.get("type")
        if kind is None:
            present = [k for k in ("data_source_id", "database_id", "page_id") if k in parent]
            kind = present[0] if len(present) == 1 else None
        if kind == "data_source_id":
            raw = parent.get("data_source_id")
            if not isinstance(raw, str):
                raise validation_error("body.parent.data_source_id", "a string", raw)
            return self._source(raw)
        if kind == "database_id":
            raw = parent.get("database_id")
            if not isinstance(raw, str):
                raise validation_error("body.parent.database_id", "a string", raw)
            database = self._database(raw)
            if len(database.data_source_ids) != 1:
                raise NotionApiError(
                    400,
                    "validation_error",
                    f"Database {database.id} has {len(database.data_source_ids)} data sources; "
                    "use a data_source_id parent to say which one the page belongs to.",
                )
            return self._data_sources[database.data_source_ids[0]]
        if kind == "page_id":
            raw = str(parent.get("page_id"))
            raise not_found("page", normalize_id(raw, path="body.parent.page_id"))
        raise validation_error(
            "body.parent", "an object with `data_source_id` or `database_id`", parent
        )

    def page_json(self, page_id: str) -> dict[str, Any]:
        """``GET /v1/pages/{id}`` (trashed pages too, with ``in_trash: true``)."""
        with self._lock:
            page = self._page(page_id)
            return page.to_json(self._data_sources[page.data_source_id].schema)

    def update_page(self, page_id: str, body: object) -> dict[str, Any]:
        """``PATCH /v1/pages/{id}``: properties, ``archived``/``in_trash``, icon, cover."""
        payload = _body_object(body)
        _unknown_keys(payload, _PAGE_UPDATE_KEYS)
        with self._lock:
            page = self._page(page_id)
            source = self._data_sources[page.data_source_id]
            trash: bool | None = None
            for key in ("archived", "in_trash"):
                if key in payload:
                    flag = payload[key]
                    if not isinstance(flag, bool):
                        raise validation_error(f"body.{key}", "a boolean", flag)
                    trash = flag
            raw = payload.get("properties")
            schema = copy_schema(source.schema)
            values: dict[str, dict[str, Any]] = {}
            if raw is not None:
                if not isinstance(raw, dict):
                    raise validation_error("body.properties", "an object", raw)
                still_trashed = page.in_trash if trash is None else trash
                if still_trashed and raw:
                    raise NotionApiError(
                        400,
                        "validation_error",
                        "Can't edit block that is archived. You must unarchive the block "
                        "before editing.",
                    )
                values = validate_properties(schema, raw)
            source.schema = schema
            page.values.update(values)
            if trash is not None:
                page.in_trash = trash
            for key in ("icon", "cover"):
                if key in payload:
                    setattr(page, key, payload[key])
            page.last_edited_time = now_iso()
            return page.to_json(source.schema)

    # -- query ------------------------------------------------------------------------------

    def query(self, data_source_id: str, body: object) -> dict[str, Any]:
        """``POST /v1/data_sources/{id}/query``: filter, sorts and cursor pagination.

        Without sorts, pages come in creation order (oldest first). Trashed pages are left
        out unless the body says ``"in_trash": true``.
        """
        payload = _body_object(body if body is not None else {})
        _unknown_keys(payload, _QUERY_KEYS)
        paging = parse_paging(payload)
        trashed = payload.get("in_trash", payload.get("archived", False)) is True
        with self._lock:
            source = self._source(data_source_id)
            pages = [
                p
                for p in self._pages.values()
                if p.data_source_id == source.id and p.in_trash == trashed
            ]
            return run_query(pages, source.schema, payload, paging)

    def pages(self, data_source_id: str, *, include_trashed: bool = False) -> list[dict[str, Any]]:
        """Every page of a data source in Notion's page shape, oldest first (a test helper)."""
        with self._lock:
            source = self._source(data_source_id)
            return [
                p.to_json(source.schema)
                for p in self._pages.values()
                if p.data_source_id == source.id and (include_trashed or not p.in_trash)
            ]


def _plain_title(path: str, raw: object) -> str:
    if not isinstance(raw, list):
        raise validation_error(path, "an array", raw)
    texts = []
    for index, item in enumerate(raw):
        text = item.get("text") if isinstance(item, dict) else None
        content = text.get("content") if isinstance(text, dict) else None
        if not isinstance(content, str):
            raise validation_error(f"{path}[{index}].text.content", "a string", content)
        texts.append(content)
    return "".join(texts)
