"""A fake Notion API (version 2025-09-03) for tests and demos: a real HTTP server that validates
requests like Notion does.

Databases hold data sources with property schemas; pages are created, updated, read and queried
with Notion's request and response shapes, so ``notion_client.AsyncClient`` works against it
unchanged. Around every ``/v1`` request: an outage switch (503/529), bearer-token and
``Notion-Version`` checks, a token-bucket rate limit (429 with ``Retry-After``) and a request log
(the token only as a hash). ``/_fake`` routes drive all of it from another process.
"""

from reelforge.fakenotion.app import create_app
from reelforge.fakenotion.config import NOTION_VERSION, FakeNotionConfig
from reelforge.fakenotion.errors import NotionApiError
from reelforge.fakenotion.log import RequestLog, RequestRecord, token_hash
from reelforge.fakenotion.server import EmbeddedFakeNotion, serve
from reelforge.fakenotion.state import OUTAGE_STATUSES, CreatedDatabase, FakeNotionState
from reelforge.fakenotion.values import MAX_TEXT_CONTENT, MAX_TEXT_OBJECTS

__all__ = [
    "MAX_TEXT_CONTENT",
    "MAX_TEXT_OBJECTS",
    "NOTION_VERSION",
    "OUTAGE_STATUSES",
    "CreatedDatabase",
    "EmbeddedFakeNotion",
    "FakeNotionConfig",
    "FakeNotionState",
    "NotionApiError",
    "RequestLog",
    "RequestRecord",
    "create_app",
    "serve",
    "token_hash",
]
