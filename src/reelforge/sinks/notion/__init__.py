"""The Notion sink: one row per job in a team's Notion database, kept up to date.

::

    settings = NotionSettings()                    # NOTION_TOKEN, NOTION_BATCH_DATABASE_ID, …
    client = make_client(settings)                 # the SDK's own retries off
    report = await init_database(client, settings, dimensions=["aesthetic", "type"])
    sink = NotionSink(client, settings, store=store)   # a reelforge.sinks.base.Sink

Delivery errors are :class:`~reelforge.sinks.base.SinkUnavailableError` (429, 5xx, 529,
timeouts, 401/403/404: try again later) and :class:`~reelforge.sinks.base.SinkRejectedError`
(400 ``validation_error``: this write never works).
"""

from reelforge.sinks.notion._api import (
    NOTION_VERSION,
    NotionNotFoundError,
    NotionRejectedError,
    NotionUnavailableError,
    make_client,
)
from reelforge.sinks.notion.errors import NotionSchemaError, TypeConflict
from reelforge.sinks.notion.init import InitReport, init_database
from reelforge.sinks.notion.limiter import RateLimiter
from reelforge.sinks.notion.properties import DataSourceSchema, page_properties, split_text
from reelforge.sinks.notion.schema import (
    ERROR_TYPES,
    REQUIRED,
    STATUS_NAMES,
    PropertySpec,
    dimension_property,
    error_type,
    status_name,
)
from reelforge.sinks.notion.settings import NotionSettings
from reelforge.sinks.notion.sink import SINK_NAME, NotionSink, PageStore
from reelforge.sinks.notion.status import NotionStatus, known_pages, notion_status
from reelforge.sinks.notion.sync import sync_notion

__all__ = [
    "ERROR_TYPES",
    "NOTION_VERSION",
    "REQUIRED",
    "SINK_NAME",
    "STATUS_NAMES",
    "DataSourceSchema",
    "InitReport",
    "NotionNotFoundError",
    "NotionRejectedError",
    "NotionSchemaError",
    "NotionSettings",
    "NotionSink",
    "NotionStatus",
    "NotionUnavailableError",
    "PageStore",
    "PropertySpec",
    "RateLimiter",
    "TypeConflict",
    "dimension_property",
    "error_type",
    "init_database",
    "known_pages",
    "make_client",
    "notion_status",
    "page_properties",
    "split_text",
    "status_name",
    "sync_notion",
]
