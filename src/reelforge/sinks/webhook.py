"""The :class:`WebhookSink`: each event POSTed as JSON, signed the Standard Webhooks way.

The body is :func:`reelforge.sinks.payload.payload` as compact JSON; the headers are
``webhook-id`` (``evt_<database tag>_<event id>``: the same on every redelivery),
``webhook-timestamp`` (when this attempt was signed) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256>``). See ``docs/webhooks.md``.

Answers: any 2xx is delivered; 410 disables the sink; 408, 429, 5xx, 3xx, timeouts and
connection errors are retried (honouring ``Retry-After``); any other 4xx refuses the event.
The endpoint URL may carry a token in its query or its path, so only its scheme, host and the
first segment of its path ever appear in names, errors and logs; the secret never does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from reelforge.sinks._ids import short_hash
from reelforge.sinks.base import (
    SinkDisabledError,
    SinkEvent,
    SinkRejectedError,
    SinkUnavailableError,
)
from reelforge.sinks.payload import encode, message_id, payload
from reelforge.sinks.verify import signer

__all__ = ["DEFAULT_TIMEOUT", "WebhookSink", "redact_url"]

DEFAULT_TIMEOUT = 15.0
"""Seconds one POST may take (Standard Webhooks suggests 15 to 30)."""

_RETRIED = frozenset({408, 425, 429})
_SNIPPET = 200


def redact_url(url: str) -> str:
    """``url`` without credentials, query, fragment or path beyond its first segment (Slack-
    and Discord-style URLs carry their token in the path): safe for names, errors and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    hidden = "?…" if parts.query else ""
    first, _, rest = parts.path.lstrip("/").partition("/")
    path = f"/{first}" + ("/…" if rest else "") if parts.path else ""
    return f"{parts.scheme}://{host}{port}{path}{hidden}"


class WebhookSink:
    """POSTs every event to ``url``, signed with ``secret`` (``whsec_…``).

    ``client`` is used as is (its transport, proxies and limits); without one the sink makes
    its own and closes it in :meth:`aclose`. ``name`` defaults to ``webhook:<8 hex digits>``
    (a hash of the full URL, so two endpoints never share a cursor and the name reveals
    nothing). ``now`` gives the signing time (Unix seconds).
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        client: httpx.AsyncClient | None = None,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self._safe_url = redact_url(url)
        self._signer = signer(secret)
        self._name = name or f"webhook:{short_hash(url)}"
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        self._timeout = timeout
        self._now = now

    @property
    def name(self) -> str:
        """``webhook:<hash of the URL>`` unless given."""
        return self._name

    @property
    def url(self) -> str:
        """The endpoint with its query, credentials and fragment hidden."""
        return self._safe_url

    def __repr__(self) -> str:
        return f"WebhookSink(name={self._name!r}, url={self._safe_url!r})"

    async def deliver(self, item: SinkEvent) -> None:
        """POST the event once; map the answer to delivered or to a sink error."""
        body = encode(payload(item))
        identifier = message_id(item)
        signed_at = datetime.fromtimestamp(int(self._now()), tz=UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": identifier,
            "webhook-timestamp": str(int(signed_at.timestamp())),
            "webhook-signature": self._signer.sign(identifier, signed_at, body.decode("utf-8")),
        }
        try:
            response = await self._client.post(
                self._url, content=body, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException:
            # Not chained: the transport's message may quote the full URL with its token.
            raise SinkUnavailableError(
                f"{self._safe_url} did not answer within {self._timeout:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise SinkUnavailableError(
                f"{self._safe_url} could not be reached ({type(exc).__name__})"
            ) from None
        self._check(response, identifier)

    async def aclose(self) -> None:
        """Close the HTTP client if this sink made it."""
        if self._owns_client:
            await self._client.aclose()

    def _check(self, response: httpx.Response, identifier: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        where = f"{self._safe_url} answered {status} to {identifier}"
        if status == 410:
            raise SinkDisabledError(f"{where} (Gone): the endpoint asked to stop")
        if status in _RETRIED or status >= 500 or status < 400:
            raise SinkUnavailableError(
                f"{where}{self._snippet(response)}", retry_after=_retry_after(response)
            )
        raise SinkRejectedError(f"{where}{self._snippet(response)}")

    def _snippet(self, response: httpx.Response) -> str:
        text = " ".join(response.text.split())[:_SNIPPET]
        if not text:
            return ""
        return ": " + text.replace(self._url, self._safe_url)


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), if the answer had a usable one."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)
