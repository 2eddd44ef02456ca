"""The Notion sink: one page per job in a data source, kept up to date from job snapshots."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from notion_client import AsyncClient

from reelforge.core.clock import Clock
from reelforge.core.errors import ConfigError
from reelforge.sinks.base import SinkEvent
from reelforge.sinks.notion._api import (
    CONFIG_RETRY_AFTER,
    NotionApi,
    NotionNotFoundError,
    NotionRejectedError,
    NotionUnavailableError,
)
from reelforge.sinks.notion.init import find_data_source, read_schema
from reelforge.sinks.notion.limiter import RateLimiter
from reelforge.sinks.notion.properties import DataSourceSchema, page_properties
from reelforge.sinks.notion.settings import NotionSettings
from reelforge.store.rows import BatchRow, JobRow

__all__ = ["SINK_NAME", "NotionSink", "PageStore"]

DEFAULT_RATE = 2.8
"""Requests a second, on average: under Notion's 3, with room for the network's jitter (the
server sees arrival times, not send times)."""
DEFAULT_BURST = 1
"""With bursts of 1, any 10 seconds hold at most 1 + 10 x 2.8 = 29 requests."""
CREATE_GRACE = 30.0
"""Seconds to wait for a page whose create got no answer to show in queries before creating
another (Notion's search lags its writes)."""
_IN_DOUBT = "pending:"
"""A recorded page id ``pending:<unix time>`` means a create was sent then and its answer not
recorded; ``pending:0`` means a create was refused (nothing to wait for)."""

SINK_NAME = "notion"
SCHEMA_TTL = 300.0
"""Seconds a data source's schema is trusted before it is read again."""

log = logging.getLogger("reelforge.sinks.notion")


class PageStore(Protocol):
    """What the sink needs from the store: which page belongs to which job, and batch names."""

    def external_id(self, sink: str, job_id: str) -> str | None:
        """The id the sink recorded for the job, if any."""
        ...

    def record_external_id(self, sink: str, job_id: str, external_id: str) -> object:
        """Remember the id of the job's page."""
        ...

    def get_batch(self, batch_id: str) -> BatchRow:
        """The batch (for its name)."""
        ...


class NotionSink:
    """Keeps one page per job in the database's data source, found by its ``Job ID``.

    Every event rewrites the page's properties from the job snapshot, so replays change
    nothing and later events supersede earlier ones. A page is found through the store's
    record, then by querying ``Job ID`` (so a crash between creating a page and recording it
    never makes a second page), and only then created. Requests go through one
    :class:`RateLimiter` (3 per second by default) and a write identical to the last one this
    process made for the job is skipped. :meth:`aclose` closes the client.
    """

    def __init__(
        self,
        client: AsyncClient,
        settings: NotionSettings,
        *,
        store: PageStore,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        schema_ttl: float = SCHEMA_TTL,
    ) -> None:
        settings.require()
        self._client = client
        self._settings = settings
        self._store = store
        self.limiter = (
            limiter if limiter is not None else RateLimiter(rate, burst=burst, clock=clock)
        )
        self._api = NotionApi(client, self.limiter)
        self._clock = clock
        self._schema_ttl = schema_ttl
        self._schema: DataSourceSchema | None = None
        self._schema_at = 0.0
        self._written: dict[str, str] = {}
        self._batch_names: dict[str, str] = {}

    @property
    def name(self) -> str:
        """``"notion"``: the key of this sink's cursor and of its page ids in the store."""
        return SINK_NAME

    async def deliver(self, item: SinkEvent) -> None:
        """Create or update the job's page to match the job snapshot."""
        job = item.job
        schema = await self.schema()
        properties = page_properties(
            job,
            item.assets,
            schema=schema,
            settings=self._settings,
            batch_name=await self._batch_name(job),
            review=item.review,
        )
        digest = _digest(properties)
        if self._written.get(job.id) == digest:
            return
        try:
            await self._write(job, schema, properties)
        except NotionRejectedError:
            # Perhaps the schema changed under us (a property removed or retyped): read it
            # again and try once more, or this event (maybe the job's last) would be skipped.
            self._schema = None
            self._written.pop(job.id, None)
            fresh = await self.schema()
            if fresh == schema:
                raise
            schema = fresh
            properties = page_properties(
                job,
                item.assets,
                schema=schema,
                settings=self._settings,
                batch_name=await self._batch_name(job),
                review=item.review,
            )
            digest = _digest(properties)
            await self._write(job, schema, properties)
        self._written[job.id] = digest

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._client.aclose()

    async def schema(self) -> DataSourceSchema:
        """The data source's properties (read again every few minutes).
        :class:`NotionUnavailableError` if it has no usable ``Job ID`` property."""
        now = self._now()
        if self._schema is not None and now - self._schema_at < self._schema_ttl:
            return self._schema
        try:
            data_source_id, _ = await find_data_source(self._api, self._settings)
        except ConfigError as exc:  # several data sources, none chosen: wait for the fix
            raise NotionUnavailableError(
                exc.message, retry_after=CONFIG_RETRY_AFTER, misconfigured=True
            ) from exc
        schema = DataSourceSchema.from_response(await read_schema(self._api, data_source_id))
        job_id = self._settings.prop("Job ID")
        if schema.types.get(job_id) != "rich_text":
            raise NotionUnavailableError(
                f"the Notion data source {data_source_id} has no text property {job_id!r}: "
                "run `reelforge notion init`",
                retry_after=CONFIG_RETRY_AFTER,
                misconfigured=True,
            )
        self._schema, self._schema_at = schema, now
        return schema

    async def preflight(self) -> None:
        """Check before a run that the sink can work: :class:`ConfigError` when only a person
        can fix it (token, sharing, ``Job ID``); Notion being down or busy is not an error
        here (the run goes on and the sink catches up later)."""
        try:
            await self.schema()
        except NotionUnavailableError as exc:
            if exc.misconfigured:
                raise ConfigError(f"the Notion sink cannot work: {exc}") from None
            log.warning("Notion is not reachable yet (%s); its updates will follow", exc)

    async def find_page(self, job_id: str) -> str | None:
        """The id of the page whose ``Job ID`` is ``job_id`` (the oldest, if there are several)."""
        schema = await self.schema()
        body = {
            "filter": {"property": self._settings.prop("Job ID"), "rich_text": {"equals": job_id}},
            "page_size": 100,
        }
        answer = await self._api.call(
            "POST",
            f"data_sources/{schema.data_source_id}/query",
            body,
            what=f"find the page of job {job_id}",
        )
        pages = [
            p
            for p in answer.get("results") or ()
            if isinstance(p, Mapping) and not p.get("archived") and not p.get("in_trash")
        ]
        if not pages:
            return None
        if len(pages) > 1:
            log.warning("job %s has %d Notion pages; updating the oldest", job_id, len(pages))
        pages.sort(key=lambda p: (str(p.get("created_time") or ""), str(p.get("id"))))
        return str(pages[0]["id"])

    async def _write(self, job: JobRow, schema: DataSourceSchema, props: dict[str, Any]) -> None:
        recorded = await asyncio.to_thread(self._store.external_id, self.name, job.id)
        in_doubt = recorded is not None and recorded.startswith(_IN_DOUBT)
        page_id = None if in_doubt else recorded
        if page_id is not None:
            try:
                await self._update(page_id, props)
                return
            except NotionNotFoundError:
                log.warning("the Notion page of job %s is gone; looking for another", job.id)
            except NotionRejectedError:
                if not await self._trashed(page_id):
                    raise
                log.warning("the Notion page of job %s is in the trash; making another", job.id)
        page_id = await self.find_page(job.id)
        if page_id is not None:
            await self._remember(job.id, page_id)
            await self._update(page_id, props)
            return
        if in_doubt and recorded is not None:
            # A create got no answer (or the process died during it): the page may exist but
            # not show in queries yet. Give Notion's search time before creating another.
            waited = time.time() - _doubt_since(recorded)
            if waited < CREATE_GRACE:
                raise NotionUnavailableError(
                    f"the page of job {job.id} may already exist (a create got no answer "
                    f"{waited:.0f} s ago); waiting for Notion's search to show it",
                    retry_after=min(5.0, CREATE_GRACE - waited),
                )
        await self._remember(job.id, f"{_IN_DOUBT}{time.time():.3f}")
        try:
            created = await self._api.call(
                "POST",
                "pages",
                {
                    "parent": {"type": "data_source_id", "data_source_id": schema.data_source_id},
                    "properties": props,
                },
                what=f"create the page of job {job.id}",
            )
        except NotionRejectedError:
            await self._remember(job.id, f"{_IN_DOUBT}0")  # refused: nothing was created
            raise
        await self._remember(job.id, str(created["id"]))

    async def _remember(self, job_id: str, page_id: str) -> None:
        await asyncio.to_thread(self._store.record_external_id, self.name, job_id, page_id)

    async def _trashed(self, page_id: str) -> bool:
        try:
            page = await self._api.call("GET", f"pages/{page_id}", what=f"page {page_id}")
        except NotionNotFoundError:
            return True
        return bool(page.get("in_trash") or page.get("archived"))

    async def _update(self, page_id: str, props: dict[str, Any]) -> None:
        await self._api.call(
            "PATCH", f"pages/{page_id}", {"properties": props}, what=f"update page {page_id}"
        )

    async def _batch_name(self, job: JobRow) -> str:
        name = self._batch_names.get(job.batch_id)
        if name is None:
            batch = await asyncio.to_thread(self._store.get_batch, job.batch_id)
            name = batch.name
            self._batch_names[job.batch_id] = name
        return name

    def _now(self) -> float:
        return self._clock.now() if self._clock is not None else time.monotonic()


def _digest(properties: dict[str, Any]) -> str:
    encoded = json.dumps(properties, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def _doubt_since(recorded: str) -> float:
    try:
        return float(recorded[len(_IN_DOUBT) :])
    except ValueError:
        return 0.0
