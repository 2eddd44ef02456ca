"""Every request to Notion goes through :class:`NotionApi`: rate limited, errors translated.

::

    SinkUnavailableError (reelforge.sinks.base)
    └── NotionUnavailableError      429, 5xx, 529, 409, timeouts, dropped connections,
        │                           401 / 403 (a configuration problem; fixed by a restart)
        └── NotionNotFoundError     404: not found, or not shared with the integration
    SinkRejectedError (reelforge.sinks.base)
    └── NotionRejectedError         400 validation_error and other 4xx: this request never works

No message ever contains the token: messages are built from the status, Notion's error code
and message, and the request id.
"""

from __future__ import annotations

import json
import logging
import math
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from notion_client import AsyncClient
from notion_client.errors import HTTPResponseError, RequestTimeoutError

from reelforge.sinks.base import SinkRejectedError, SinkUnavailableError
from reelforge.sinks.notion.limiter import RateLimiter
from reelforge.sinks.notion.settings import NotionSettings

__all__ = [
    "NOTION_VERSION",
    "NotionApi",
    "NotionNotFoundError",
    "NotionRejectedError",
    "NotionUnavailableError",
    "make_client",
]

NOTION_VERSION = "2025-09-03"
DEFAULT_TIMEOUT_MS = 30_000
CONFIG_RETRY_AFTER = 60.0
"""How long to wait after 401/403/404: a configuration problem is not fixed in a second."""
MAX_RETRY_AFTER = 600.0
"""The longest ``Retry-After`` honoured (and so the longest limiter pause), as the runner's
:attr:`~reelforge.sinks.Backoff.max_retry_after`."""

log = logging.getLogger("reelforge.sinks.notion")
_sdk_log = logging.getLogger("reelforge.sinks.notion.http")


class NotionUnavailableError(SinkUnavailableError):
    """Notion could not take the request now; try again later.

    ``misconfigured`` marks what only a person can fix (a wrong token, a database not shared
    with the integration, a missing ``Job ID`` property): retried slowly while running, but
    refused before a run starts."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        misconfigured: bool = False,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.misconfigured = misconfigured


class NotionNotFoundError(NotionUnavailableError):
    """404: the object does not exist, or the integration may not see it."""


class NotionRejectedError(SinkRejectedError):
    """Notion refused the request for good (``validation_error`` and other 4xx)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


def make_client(
    settings: NotionSettings,
    *,
    http: httpx.AsyncClient | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> AsyncClient:
    """A ``notion_client.AsyncClient`` for ``settings`` with the SDK's own retries off, so the
    sink's limiter and the runner's backoff decide when to try again. ``http`` lets tests pass
    an ``httpx.AsyncClient`` with their own transport (use the client without ``async with``
    then: entering it swaps in a new ``httpx.AsyncClient``). :class:`ConfigError` if the token
    or the database id is missing."""
    token, _ = settings.require()
    return AsyncClient(
        client=http,
        auth=token,
        base_url=settings.base_url,
        notion_version=NOTION_VERSION,
        timeout_ms=timeout_ms,
        retry=False,
        logger=_sdk_log,
        # The SDK logs every failed request; the sink's own errors say the same, better.
        log_level=logging.ERROR,
    )


class NotionApi:
    """A client and a limiter: one call per request, translated errors."""

    def __init__(self, client: AsyncClient, limiter: RateLimiter) -> None:
        self.client = client
        self.limiter = limiter
        if client.options.retry is not False:
            log.warning(
                "the Notion client retries by itself, around the rate limiter: "
                "build it with reelforge.sinks.notion.make_client (retry=False)"
            )

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, what: str
    ) -> dict[str, Any]:
        """Send one request after the limiter allows it; the decoded answer. ``what`` names
        the request in error messages (``"update page 1a2b…"``)."""
        await self.limiter.acquire()
        try:
            answer = await self.client.request(path=path, method=method, body=body)
        except HTTPResponseError as exc:
            raise self._translate(exc, what) from exc
        except RequestTimeoutError as exc:
            raise NotionUnavailableError(f"Notion did not answer in time ({what})") from exc
        except httpx.TransportError as exc:
            raise NotionUnavailableError(
                f"could not reach Notion ({what}): {type(exc).__name__}"
            ) from exc
        except ValueError as exc:  # a 2xx whose body is not JSON
            raise NotionUnavailableError(f"Notion sent an unreadable answer ({what})") from exc
        if not isinstance(answer, dict):
            raise NotionUnavailableError(f"Notion sent an unexpected answer ({what})")
        return answer

    def _redact(self, text: str) -> str:
        token = self.client.options.auth
        return text.replace(token, "[redacted]") if token else text

    def _translate(self, exc: HTTPResponseError, what: str) -> Exception:
        status = exc.status
        code = _code(exc)
        request_id = exc.request_id or exc.headers.get("x-request-id")
        detail = _detail(status, code, request_id)
        message = self._redact(str(exc) or f"HTTP {status}")
        retry_after = _retry_after(exc.headers)
        if status == 429 or code == "rate_limited":
            wait = retry_after if retry_after is not None else 1.0
            self.limiter.pause(wait)
            log.warning("Notion is rate limiting: pausing %.1f s", wait)
            return NotionUnavailableError(
                f"Notion is rate limiting requests ({what}); retry after {wait:g} s {detail}",
                retry_after=wait,
                status=status,
                code=code,
                request_id=request_id,
            )
        if status >= 500 or status in (408, 409) or code == "conflict_error":
            if retry_after is not None:
                self.limiter.pause(retry_after)
            return NotionUnavailableError(
                f"Notion is unavailable ({what}): {message} {detail}",
                retry_after=retry_after,
                status=status,
                code=code,
                request_id=request_id,
            )
        if status in (401, 403):
            hint = (
                "check NOTION_TOKEN"
                if status == 401
                else "share the database with the integration, or give it the capability"
            )
            return NotionUnavailableError(
                f"Notion refused access ({what}): {message} {detail}; {hint}, then restart",
                retry_after=CONFIG_RETRY_AFTER,
                misconfigured=True,
                status=status,
                code=code,
                request_id=request_id,
            )
        if status == 404:
            return NotionNotFoundError(
                f"not found in Notion ({what}): {message} {detail}; check the id and that the "
                "database is shared with the integration",
                retry_after=CONFIG_RETRY_AFTER,
                misconfigured=True,
                status=status,
                code=code,
                request_id=request_id,
            )
        return NotionRejectedError(
            f"Notion rejected the request ({what}): {message} {detail}",
            status=status,
            code=code,
            request_id=request_id,
        )


def _code(exc: HTTPResponseError) -> str | None:
    code = exc.code
    value = getattr(code, "value", code)
    if value == "notionhq_client_response_error":
        # An error code the SDK does not know (``service_overload``): read it from the body.
        return _body_code(exc.body)
    return str(value) if value is not None else None


def _body_code(body: str) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    code = parsed.get("code") if isinstance(parsed, dict) else None
    return code if isinstance(code, str) else None


def _detail(status: int, code: str | None, request_id: str | None) -> str:
    parts = [f"HTTP {status}"]
    if code:
        parts.append(code)
    if request_id:
        parts.append(f"request id {request_id}")
    return f"({', '.join(parts)})"


def _retry_after(headers: httpx.Headers) -> float | None:
    """``Retry-After`` in seconds (an integer, or an HTTP date), capped at ten minutes."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)
