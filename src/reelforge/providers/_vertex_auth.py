"""Google OAuth access tokens for the Vertex adapter: refreshed before they expire, and once
more when the server answers 401.

The credentials are google-auth's (Application Default Credentials, a service-account file, the
simulator's throwaway account). Their ``refresh`` is blocking, so it runs in a worker thread,
one refresh at a time; the HTTP request it makes is sent back to the event loop on the
adapter's own ``httpx.AsyncClient`` (:class:`_LoopRequest`), so tests reach an in-process
simulator through the same transport as every other request. The token never appears in a
repr, a log line or an error message.

google-auth calls a token expired 3 min 45 s before its end; tokens here are refreshed at a
quarter of their lifetime before the end, at most 5 minutes before, so a short-lived token
(a simulator's) is still used for most of its life.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from google.auth import exceptions as google_exceptions
from google.auth import transport as google_transport

from reelforge.core.clock import Clock
from reelforge.core.errors import AuthError, TransientError
from reelforge.providers._redact import clean_text

__all__ = ["GoogleCredentials", "TokenSource"]

_MAX_MARGIN = 300.0
_TOKEN_TIMEOUT = 60.0
_MAX_TOKEN_BODY = 64 * 1024
PROVIDER = "vertex"


class GoogleCredentials(Protocol):
    """What reelforge uses of :class:`google.auth.credentials.Credentials`."""

    token: Any
    expiry: datetime | None

    def refresh(self, request: google_transport.Request) -> None: ...


class _Response(google_transport.Response):
    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self._status = status
        self._headers = dict(headers)
        self._data = data

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


class _LoopRequest(google_transport.Request):
    """google-auth's transport, sending on ``client`` in ``loop`` from a worker thread."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> google_transport.Response:
        future = asyncio.run_coroutine_threadsafe(
            self._send(url, method, body, headers, timeout or _TOKEN_TIMEOUT), self._loop
        )
        try:
            return future.result(timeout=(timeout or _TOKEN_TIMEOUT) + 5)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise google_exceptions.TransportError(  # type: ignore[no-untyped-call]  # untyped lib
                type(exc).__name__
            ) from exc

    async def _send(
        self,
        url: str,
        method: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        seconds: float,
    ) -> _Response:
        request = self._client.build_request(
            method, url, content=body, headers=dict(headers or {}), timeout=seconds
        )
        response = await self._client.send(request, stream=True)
        try:
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > _MAX_TOKEN_BODY:
                    raise google_exceptions.TransportError(  # type: ignore[no-untyped-call]  # untyped
                        "the token answer is too large"
                    )
            return _Response(response.status_code, response.headers, bytes(data))
        finally:
            await response.aclose()


class TokenSource:
    """The current access token of ``credentials``, refreshed as needed (see the module)."""

    def __init__(
        self, credentials: GoogleCredentials, *, client: httpx.AsyncClient, clock: Clock
    ) -> None:
        self._credentials = credentials
        self._client = client
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.refreshes = 0
        """How many times a token was fetched."""

    def __repr__(self) -> str:
        return f"TokenSource(refreshes={self.refreshes})"

    async def token(self) -> str:
        """A token that is not about to expire."""
        token = self._token
        if token is not None and self._clock.now() < self._refresh_at:
            return token
        return await self.refresh(token)

    async def refresh(self, stale: str | None) -> str:
        """A fresh token, unless another caller already replaced ``stale`` meanwhile."""
        async with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            loop = asyncio.get_running_loop()
            request = _LoopRequest(self._client, loop)
            try:
                await asyncio.to_thread(self._credentials.refresh, request)
            except google_exceptions.RefreshError as exc:
                reason = clean_text(str(exc.args[0]) if exc.args else "", limit=300)
                raise AuthError(
                    f"getting a Google access token failed: {reason or 'refused'}",
                    provider=PROVIDER,
                ) from None
            except google_exceptions.GoogleAuthError as exc:
                raise TransientError(
                    f"getting a Google access token failed: {type(exc).__name__}",
                    provider=PROVIDER,
                ) from None
            token = self._credentials.token
            if not isinstance(token, str) or not token:
                raise AuthError("Google issued no access token", provider=PROVIDER)
            self._token = token
            self._refresh_at = self._clock.now() + self._fresh_for()
            self.refreshes += 1
            return token

    def _fresh_for(self) -> float:
        """Seconds the new token is used before refreshing it."""
        expiry = self._credentials.expiry
        if expiry is None:
            return _MAX_MARGIN
        end = expiry if expiry.tzinfo is not None else expiry.replace(tzinfo=UTC)
        lifetime = max(0.0, (end - datetime.now(UTC)).total_seconds())
        return lifetime - min(_MAX_MARGIN, lifetime / 4)
