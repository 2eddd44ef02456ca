"""One JSON request to an OpenAI Videos server, with the retry and ambiguity rules applied.

Reads (``GET``, ``DELETE``) are idempotent: connection failures, timeouts, 5xx and 429 are retried
with backoff. Creates (``POST /videos``, remix) are paid: they are retried only when the failure
proves nothing was created (the connection was never made, or the server answered 429);
anything else after the request may have reached the server raises
:class:`AmbiguousSubmissionError` at once and the engine reconciles by listing.

Every answer passes one chokepoint before anything reads it: the API key is replaced by
``[redacted]`` in the headers (a redacted copy is all the parsers see), in the raw body bytes
before JSON decoding, and in every string and key of the decoded JSON (escapes can hide it from
the bytes); error bodies likewise, before anything shortens them. JSON bodies are requested
unencoded and read raw; a body the server compressed anyway (gzip, deflate) is inflated here a
bounded piece at a time, so memory stays within the cap plus one network read.
"""

from __future__ import annotations

import functools
import random
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol, TypeVar

import httpx

from reelforge.core.clock import Clock
from reelforge.core.errors import (
    AmbiguousSubmissionError,
    ConfigError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    ReelforgeError,
    TransientError,
)
from reelforge.providers._errors import (
    AmbiguousProtocolError,
    Endpoint,
    OptionalOperation,
    Site,
    error_for_response,
)
from reelforge.providers._observe import RequestSeen, notify
from reelforge.providers._redact import clean_text
from reelforge.providers._retry import RetryPolicy, retry_after_seconds
from reelforge.providers._wire import decode_json, request_id_of

__all__ = [
    "Call",
    "CallKind",
    "ErrorReader",
    "Session",
    "checked_base_url",
    "read_capped",
    "read_error_body",
    "retryable_transport",
    "user_agent",
]

T = TypeVar("T")

MAX_JSON_BYTES = 1024 * 1024
"""Largest JSON body read from a server; anything bigger is a protocol error."""
_MAX_ERROR_BYTES = 64 * 1024
_INFLATE_WBITS = {
    "gzip": zlib.MAX_WBITS | 16,
    "x-gzip": zlib.MAX_WBITS | 16,
    "deflate": zlib.MAX_WBITS,
}
"""The content encodings a JSON body may come in (despite ``Accept-Encoding: identity``)."""

NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
"""Transport failures that prove the request never reached the server."""


def checked_base_url(raw: str, *, what: str) -> str:
    """``raw`` as an ``http(s)`` URL with a host, without a trailing slash; a
    :class:`ConfigError` naming ``what`` (``"the Replicate base URL"``) otherwise."""
    try:
        url = httpx.URL(raw.strip())
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{what} is not a valid URL") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"{what} must be an http:// or https:// URL with a host")
    return str(url).rstrip("/")


@functools.cache
def user_agent() -> str:
    """``reelforge/<version>``."""
    try:
        return f"reelforge/{version('reelforge')}"
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "reelforge/0"


class CallKind(Enum):
    """Whether a request may be repeated safely."""

    READ = "read"
    """Idempotent: retried on any transient failure."""
    CREATE = "create"
    """Creates (and bills) a job: retried only when nothing can have been created."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Call:
    """One request to make: where, what to send, and how to describe it in errors."""

    method: str
    path: str
    """Relative to the base URL, starting with ``/``."""
    kind: CallKind
    endpoint: Endpoint
    label: str
    params: Mapping[str, str] | None = None
    json: object = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    model: str | None = None
    gone_ok_after_drop: bool = False
    """A 404 after an attempt whose answer was lost means the earlier attempt succeeded."""
    optional: OptionalOperation | None = None
    """Set when the endpoint may not offer this operation: which answers say so."""
    headers: Mapping[str, str] | None = None
    """Extra request headers (a protocol's own: ``Cancel-After``, ``X-Fal-…``)."""
    empty_ok: bool = False
    """A ``204 No Content`` answer is parsed as ``None`` (a delete that returns no body)."""


class ErrorReader(Protocol):
    """Turns a non-success answer into the error it means, in one protocol's words.

    ``headers`` and ``body`` arrive redacted; the result is returned, not raised (the session
    decides on retries). The default reads the OpenAI error envelope."""

    def __call__(
        self,
        call: Call,
        status: int,
        headers: httpx.Headers,
        body: bytes | None,
        *,
        retry_after: float | None,
    ) -> ReelforgeError: ...


class Session:
    """The adapter's connection to one server: client, credentials, retry policy and clock."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        site: Site,
        retry: RetryPolicy,
        clock: Clock,
        rng: random.Random,
        auth_scheme: str = "Bearer",
        error_reader: ErrorReader | None = None,
        provider: str = "openai",
    ) -> None:
        self.client = client
        self.provider = provider
        """The provider's registry name, as request observers see it."""
        self.site = site
        self.retry = retry
        self.clock = clock
        self.rng = rng
        self.auth_scheme = auth_scheme
        """How the credential is sent: ``Authorization: <scheme> <secret>``."""
        self.error_reader = error_reader
        self._base = site.base_url.rstrip("/")

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (relative to the base URL; an absolute ``http(s)``
        URL is taken as it is)."""
        if path.startswith(("http://", "https://")):
            return path
        return self._base + path

    def same_origin(self, url: str) -> bool:
        """Whether ``url`` is on the base URL's scheme, host and port (where the credential
        may go)."""
        theirs, ours = httpx.URL(url), httpx.URL(self._base)
        return (theirs.scheme, theirs.host, theirs.port) == (ours.scheme, ours.host, ours.port)

    def headers(self, accept: str) -> dict[str, str]:
        """The headers every request carries."""
        headers = {"User-Agent": user_agent(), "Accept": accept, "Accept-Encoding": "identity"}
        if self.site.secret:
            headers["Authorization"] = f"{self.auth_scheme} {self.site.secret}"
        return headers

    async def pause(self, failures: int, retry_after: float | None) -> None:
        """Wait before the next attempt: the server's ``retry_after`` if given, else backoff."""
        delay = retry_after if retry_after is not None else self.retry.backoff(failures, self.rng)
        await self.clock.sleep(delay)

    def transport_error(self, exc: Exception, label: str, attempts: int) -> ReelforgeError:
        """A transport failure that will not be retried, as a reelforge error."""
        name = type(exc).__name__
        if isinstance(exc, httpx.UnsupportedProtocol):
            return ConfigError(f"{label} failed: the base URL {self.site.display_url} is unusable")
        if isinstance(exc, httpx.TransportError):
            tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
            where = self.site.display_url
            return TransientError(f"{label} failed: {name} talking to {where} ({tries})")
        return ProtocolError(f"{label} failed: {self.site.clean(str(exc)) or name}")

    async def call(self, call: Call, parse: Callable[[object, httpx.Headers], T]) -> T:
        """Send ``call`` (retrying as its kind allows) and ``parse`` the JSON answer."""
        failures = 0
        answer_lost = False
        while True:
            request = self.client.build_request(
                call.method,
                self.url(call.path),
                params=call.params,
                json=call.json,
                data=call.data,
                files=call.files,
                headers={**self.headers("application/json"), **(call.headers or {})},
            )
            started = time.monotonic()
            try:
                response = await self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                self._observed(call, "error", started)
                failures += 1
                if call.kind is CallKind.CREATE and not isinstance(exc, NOT_SENT):
                    raise self._ambiguous(call, exc) from exc
                if not retryable_transport(exc) or failures >= self.retry.max_attempts:
                    raise self.transport_error(exc, call.label, failures) from exc
                answer_lost = answer_lost or not isinstance(exc, NOT_SENT)
                await self.pause(failures, None)
                continue
            self._observed(call, str(response.status_code), started)
            try:
                if response.is_success:
                    return await self._success(call, response, parse)
                body = await read_error_body(response)
            except httpx.HTTPError as exc:
                failures += 1
                if call.kind is CallKind.CREATE:
                    raise self._ambiguous(call, exc) from exc
                if failures >= self.retry.max_attempts:
                    raise self.transport_error(exc, call.label, failures) from exc
                answer_lost = True
                await self.pause(failures, None)
                continue
            finally:
                await response.aclose()
            failures += 1
            error = self.response_error(call, response, body)
            if answer_lost and call.gone_ok_after_drop and type(error) is NotFoundError:
                return parse(None, self.answer_headers(response))
            await self.retry_or_raise(call, error, failures)

    def _observed(self, call: Call, status: str, started: float) -> None:
        """Report one attempt to the request observers (:mod:`reelforge.providers._observe`)."""
        operation = (
            "create" if call.kind is CallKind.CREATE else call.label.split(" ", 1)[0].lower()
        )
        elapsed = time.monotonic() - started
        notify(
            RequestSeen(provider=self.provider, operation=operation, status=status, seconds=elapsed)
        )

    def answer_headers(self, response: httpx.Response) -> httpx.Headers:
        """The headers of ``response`` with the secret removed: the only ones parsers see."""
        return self.site.redactor.headers(response.headers)

    async def _success(
        self, call: Call, response: httpx.Response, parse: Callable[[object, httpx.Headers], T]
    ) -> T:
        redactor = self.site.redactor
        headers = self.answer_headers(response)
        if call.empty_ok and response.status_code == 204:  # No Content
            return parse(None, headers)
        try:
            body = await read_capped(response, MAX_JSON_BYTES, call.label, headers=headers)
            data = redactor.json(decode_json(redactor.raw(body), what=call.label))
            return parse(data, headers)
        except ProtocolError as exc:
            text = exc.message
            if not text.startswith(f"{call.label}: "):
                text = f"{call.label}: {text}"
            message = self.site.clean(text, limit=1000)
            request_id = request_id_of(headers)
            status = response.status_code
            if call.kind is CallKind.CREATE:
                raise AmbiguousProtocolError(
                    f"{message}; the server accepted the request, so the video may exist",
                    status_code=status,
                    request_id=request_id,
                ) from exc
            raise ProtocolError(message, status_code=status, request_id=request_id) from exc

    def response_error(
        self, call: Call, response: httpx.Response, body: bytes | None
    ) -> ReelforgeError:
        """The error a non-success ``response`` means; its headers and ``body`` (the raw bytes
        :func:`read_error_body` returned) are redacted before anything reads them."""
        headers = self.answer_headers(response)
        retry_after = retry_after_seconds(headers, self.clock.now())
        redacted = None if body is None else self.site.redactor.raw(body)
        if self.error_reader is not None:
            return self.error_reader(
                call, response.status_code, headers, redacted, retry_after=retry_after
            )
        return error_for_response(
            response.status_code,
            headers,
            redacted,
            site=self.site,
            endpoint=call.endpoint,
            label=call.label,
            retry_after=retry_after,
            model=call.model,
            optional=call.optional,
        )

    async def retry_or_raise(self, call: Call, error: ReelforgeError, failures: int) -> None:
        """Sleep if ``error`` may be retried for this call; raise it (or its ambiguity) if not."""
        if not isinstance(error, ProviderError):
            raise error
        retryable = isinstance(error, RateLimitedError) and error.code != "insufficient_quota"
        if isinstance(error, TransientError) and not isinstance(error, RateLimitedError):
            if call.kind is CallKind.CREATE:
                raise AmbiguousSubmissionError(
                    f"{error.message}; the server may have created the video before failing",
                    status_code=error.status_code,
                    request_id=error.request_id,
                    code=error.code,
                    retry_after=error.retry_after,
                )
            retryable = True
        wait = error.retry_after
        if not retryable or failures >= self.retry.max_attempts:
            raise error
        if wait is not None and wait > self.retry.max_retry_after:
            raise error
        await self.pause(failures, wait)

    def _ambiguous(self, call: Call, exc: Exception) -> AmbiguousSubmissionError:
        return AmbiguousSubmissionError(
            f"{call.label}: {type(exc).__name__} after the request was sent to "
            f"{self.site.display_url}; the video may or may not have been created"
        )


async def read_capped(
    response: httpx.Response, limit: int, label: str, *, headers: httpx.Headers | None = None
) -> bytes:
    """The whole (decoded) body of ``response``, or :class:`ProtocolError` past ``limit`` bytes.

    The body is read raw; a gzip or deflate body is inflated here, never more than ``limit``
    plus one byte, so a compression bomb costs no more memory than an honest body. Any other
    content encoding is a :class:`ProtocolError` naming it. ``headers`` are the response's
    headers as they may be shown (redacted); ``response.headers`` when not given.
    """
    headers = response.headers if headers is None else headers
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ProtocolError(f"{label}: the body is {int(declared)} bytes; at most {limit} expected")
    too_large = ProtocolError(f"{label}: the body is larger than {limit} bytes")
    if response.is_stream_consumed:
        # Read before it got here (an in-memory transport, an event hook): httpx already
        # decoded it, and it is in memory already.
        if len(response.content) > limit:
            raise too_large
        return response.content
    inflater = _Inflater.for_encoding(headers.get("content-encoding", ""), label)
    buffer = bytearray()
    async for chunk in response.aiter_raw():
        buffer += chunk if inflater is None else inflater.feed(chunk, limit + 1 - len(buffer))
        if len(buffer) > limit:
            raise too_large
    if inflater is not None:
        inflater.finish()
    return bytes(buffer)


class _Inflater:
    """A gzip or deflate decoder that never produces more than it is asked for."""

    def __init__(self, encoding: str, label: str) -> None:
        self._wbits = _INFLATE_WBITS[encoding]
        self._encoding = encoding
        self._label = label
        self._zlib = zlib.decompressobj(self._wbits)
        self._started = False

    @classmethod
    def for_encoding(cls, header: str, label: str) -> _Inflater | None:
        """The decoder ``Content-Encoding: header`` needs; ``None`` for an unencoded body."""
        encoding = header.strip().lower()
        if encoding in ("", "identity"):
            return None
        if encoding not in _INFLATE_WBITS:
            name = clean_text(header, limit=60)
            raise ProtocolError(f"{label}: the body is encoded as {name!r}, which is not supported")
        return cls(encoding, label)

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode ``data``; at most ``room`` bytes (at least 1) come out, the rest is dropped
        (the caller refuses the body once ``room`` is reached)."""
        out = bytearray()
        while data and len(out) < room:
            try:
                out += self._zlib.decompress(data, room - len(out))
            except zlib.error as exc:
                if self._encoding == "deflate" and not self._started:
                    # Many servers send raw deflate without the zlib header.
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._started = True
                    continue
                raise ProtocolError(f"{self._label}: the {self._encoding} body is corrupt") from exc
            self._started = True
            if self._zlib.unconsumed_tail:
                data = self._zlib.unconsumed_tail
            elif self._zlib.eof and self._zlib.unused_data:
                data = self._zlib.unused_data  # the next member of a multi-member gzip body
                self._zlib = zlib.decompressobj(self._wbits)
            else:
                data = b""
        return bytes(out)

    def finish(self) -> None:
        """Check that the compressed body was complete."""
        if self._started and not self._zlib.eof:
            raise ProtocolError(f"{self._label}: the {self._encoding} body ends early")


async def read_error_body(response: httpx.Response) -> bytes | None:
    """An error body, at most a few kilobytes; ``None`` if too large or cut off in transit."""
    try:
        return await read_capped(response, _MAX_ERROR_BYTES, "error")
    except (ProtocolError, httpx.HTTPError):
        return None


def retryable_transport(exc: Exception) -> bool:
    """Whether a transport failure of an idempotent request is worth another attempt."""
    return isinstance(exc, httpx.TransportError) and not isinstance(
        exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError
    )
