"""Resumable, verified, constant-memory download of one asset to a file.

The bytes go to ``<dest>.part``. After a dropped connection the transfer resumes with
``Range: bytes=<have>-`` (a ``206`` continues the part; a ``200`` means the server ignored the
range, so the part is discarded and the transfer restarts). The SHA-256 is computed as the
bytes arrive (an existing part is re-hashed first), the size is checked against
``Content-Length`` / ``Content-Range``, the file is checked to be the media of its variant and
served as its content type (:mod:`reelforge.providers._media`: an MP4 PyAV decodes, a WebP or
JPEG Pillow opens), and it is fsynced and renamed atomically into place. The result says whether
a ``Range`` request was honoured (``range_supported``; gateways often answer it with the whole
body).

What arrives as another kind of media than the variant (a gateway that drops the ``variant``
query serves the MP4 for the thumbnail) raises :class:`AssetMismatchError` with what was found;
like any file that fails the check, nothing of it is kept, so no later call resumes from it.

A hostile server cannot make it do more than that:

* Bodies are read raw (``Accept-Encoding: identity``); a response that declares another
  ``Content-Encoding`` is a :class:`ProtocolError`, so a gzip bomb is never inflated.
* No asset may exceed ``max_bytes``: a larger ``Content-Length`` or ``Content-Range`` fails
  before the body is read, a body that streams past it fails at once.
* A body shorter or longer than announced is never kept as finished: it is resumed, refused, or
  caught by the media check. An attempt counts as progress only when the part grows beyond the
  largest size it has had, and one call makes at most ``max_attempts * 3`` attempts (12 with
  the default policy), so a server that always lies is given up on within seconds.
* Only ``http``/``https`` redirects are followed, at most :data:`MAX_REDIRECTS` and never in a
  loop; httpx drops ``Authorization`` when a redirect leaves the origin.
* Whatever fails surfaces as a one-line :class:`DownloadError` (or another reelforge error), a
  full disk or an unwritable folder included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import httpx

from reelforge.core.errors import (
    AssetExpiredError,
    AssetMismatchError,
    DownloadError,
    ProtocolError,
)
from reelforge.core.files import sync_directory
from reelforge.core.models import DownloadResult, Variant
from reelforge.providers._errors import Endpoint, OptionalOperation
from reelforge.providers._http import (
    Call,
    CallKind,
    Session,
    read_error_body,
    retryable_transport,
)
from reelforge.providers._media import check_media
from reelforge.providers._wire import id_segment, shown_id

__all__ = ["DEFAULT_MAX_ASSET_BYTES", "MAX_REDIRECTS", "download_asset"]

DEFAULT_MAX_ASSET_BYTES = 4 * 1024**3
"""Largest asset downloaded (4 GiB); a bigger one is refused."""
MAX_REDIRECTS = 5
"""Redirects followed per request."""

_HASH_BLOCK = 1024 * 1024
_PROGRESS_ALLOWANCE = 3
"""A transfer that keeps making progress may make this many times ``max_attempts`` attempts.

Backoff restarts after each attempt that made progress, so the budget costs seconds of waiting
(about 6 s with the default policy), never minutes; what was received stays in the part for a
later call to continue."""
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)", re.ASCII)
_DIGITS_RE = re.compile(r"\d+", re.ASCII)
_REDIRECT_SCHEMES = ("http", "https")


class _Restart(Exception):
    """The part on disk cannot be continued; start over from byte 0."""


class _PartFile:
    """The ``.part`` file: synchronous, small operations (each one chunk at most).

    Writes are unbuffered, so after a failed write (a full disk) the file holds exactly the bytes
    that reached it, a prefix of the asset a later resume can continue.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.path = path
        self.file: BinaryIO = os.fdopen(fd, "r+b", buffering=0)
        self.size = self.file.seek(0, os.SEEK_END)

    def __enter__(self) -> _PartFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.file.close()

    def rehash(self) -> hashlib._Hash:
        """The SHA-256 of what is already on disk (runs in a worker thread)."""
        hasher = hashlib.sha256()
        self.file.seek(0)
        while block := self.file.read(_HASH_BLOCK):
            hasher.update(block)
        self.size = self.file.seek(0, os.SEEK_END)
        return hasher

    def truncate(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            written = self.file.write(view) or 0
            self.size += written
            view = view[written:]

    def sync(self) -> None:
        os.fsync(self.file.fileno())


def _announced_total(response: httpx.Response, have: int) -> int | None:
    """The finished file's size a success answer announces, if any.

    Raises :class:`_Restart` when a ``200`` answers a range request (the server ignored it),
    and :class:`ProtocolError` when a ``206`` does not continue the part.
    """
    if response.status_code == 200:
        if have:
            raise _Restart
        length = response.headers.get("content-length", "").strip()
        return int(length) if _DIGITS_RE.fullmatch(length) else None
    if response.status_code == 206:
        match = _CONTENT_RANGE_RE.fullmatch(response.headers.get("content-range", "").strip())
        if match is None or not have:
            raise ProtocolError("a 206 answer without a usable Content-Range")
        start, end, total_text = match.groups()
        total = None if total_text == "*" else int(total_text)
        if int(start) != have or int(end) < int(start) or (total is not None and int(end) >= total):
            raise ProtocolError(f"a 206 answer for the wrong range ({match.group(0)})")
        return total
    raise ProtocolError(f"unexpected HTTP {response.status_code} for a download")


async def download_asset(
    session: Session,
    *,
    remote_id: str,
    variant: Variant,
    dest: Path,
    max_bytes: int = DEFAULT_MAX_ASSET_BYTES,
    optional: OptionalOperation | None = None,
    url: str | None = None,
) -> DownloadResult:
    """Download ``variant`` of ``remote_id`` to ``dest`` (see the module docstring).

    ``optional`` names the answers that mean the endpoint does not serve this variant
    (:class:`UnsupportedOperationError`). What arrives as another kind of media than the variant
    raises :class:`AssetMismatchError`; nothing of it is kept.

    ``url`` is an absolute ``http(s)`` URL to fetch instead of the OpenAI protocol's content
    path (a provider's CDN file): the credential goes with it only when it is on the base URL's
    own origin."""
    label = f"download the {variant.value} of video {shown_id(remote_id)}"
    if url is None:
        call = Call(
            method="GET",
            path=f"/videos/{id_segment(remote_id)}/content",
            kind=CallKind.READ,
            endpoint=Endpoint.CONTENT,
            label=label,
            params={"variant": variant.value},
            optional=optional,
        )
    else:
        if httpx.URL(url).scheme not in _REDIRECT_SCHEMES:
            raise ProtocolError(f"{label}: the file URL is not an http(s) URL")
        call = Call(
            method="GET",
            path=url,
            kind=CallKind.READ,
            endpoint=Endpoint.CONTENT,
            label=label,
            optional=optional,
        )
    part_path = dest.with_name(dest.name + ".part")
    try:
        with _PartFile(part_path) as part:
            transfer = _Transfer(session, call, part, max_bytes=max_bytes)
            await transfer.run()
            await asyncio.to_thread(part.sync)
        problem = await asyncio.to_thread(check_media, part_path, variant, transfer.content_type)
        if problem is not None:
            part_path.unlink()  # not the media it should be: never resume from it
            message = f"{call.label}: {problem.text}"
            if problem.found is not None:
                raise AssetMismatchError(message, variant=variant.value, found=problem.found)
            raise DownloadError(message)
        os.replace(part_path, dest)
        sync_directory(dest.parent)
    except (AssetExpiredError, ProtocolError):
        part_path.unlink(missing_ok=True)  # useless or corrupt: never resume from it
        raise
    except OSError as exc:
        reason = _os_reason(exc)
        raise DownloadError(f"{call.label}: cannot save {dest.name}: {reason}") from exc
    except BaseException:
        _remove_if_empty(part_path)  # e.g. "not ready yet": leave no empty part behind
        raise
    return DownloadResult(
        variant=variant,
        path=dest,
        size=transfer.part.size,
        sha256=transfer.hasher.hexdigest(),
        resumed=transfer.resumed,
        range_supported=transfer.range_supported,
    )


class _Transfer:
    """The request loop of one download."""

    def __init__(self, session: Session, call: Call, part: _PartFile, *, max_bytes: int) -> None:
        self.session = session
        self.call = call
        self.part = part
        self.max_bytes = max_bytes
        self.hasher = hashlib.sha256()
        self.resumed = 0
        self.requests = 0
        self.budget = session.retry.max_attempts * _PROGRESS_ALLOWANCE
        """Most requests one call makes, however much progress each one makes."""
        self.failures = 0
        """Consecutive failed attempts that added no bytes."""
        self.high_water = part.size
        """The largest the part has been: only growing beyond it counts as progress."""
        self.announced: int | None = None
        """The asset's size as the last success answer announced it."""
        self.content_type: str | None = None
        """The ``Content-Type`` of the last success answer (redacted), for the media check."""
        self.range_supported: bool | None = None
        """None until a ``Range`` request is answered: True for a 206, False (for good) once
        a 200 brings the whole body instead."""

    async def run(self) -> None:
        if self.part.size:
            self.hasher = await asyncio.to_thread(self.part.rehash)
            self.high_water = self.part.size
        while self.requests < self.budget:
            self.requests += 1
            try:
                response = await self._send()
            except httpx.HTTPError as exc:
                await self._dropped(exc)
                continue
            try:
                if await self._receive(response):
                    return
            finally:
                await response.aclose()
        raise DownloadError(self._gave_up(None))

    async def _send(self) -> httpx.Response:
        """Send the request, following at most :data:`MAX_REDIRECTS` http(s) redirects."""
        session, call = self.session, self.call
        headers = session.headers("application/binary")
        headers["Accept-Encoding"] = "identity"
        if self.part.size:
            headers["Range"] = f"bytes={self.part.size}-"
        target = session.url(call.path)
        if not session.same_origin(target):
            headers.pop("Authorization", None)  # a CDN file: the credential stays home
        request = session.client.build_request("GET", target, params=call.params, headers=headers)
        visited = {str(request.url)}
        hops = 0
        while True:
            try:
                response = await session.client.send(request, stream=True, follow_redirects=False)
            except httpx.InvalidURL as exc:  # a Location httpx cannot turn into a request
                raise DownloadError(
                    f"{call.label}: the server redirected to an unusable URL"
                ) from exc
            # httpx builds the next request (and drops Authorization if it leaves the origin).
            following = response.next_request
            if following is None:
                return response
            await response.aclose()
            hops += 1
            url = following.url
            if hops > MAX_REDIRECTS:
                raise DownloadError(
                    f"{call.label}: the server redirected more than {MAX_REDIRECTS} times"
                )
            if url.scheme not in _REDIRECT_SCHEMES:
                raise DownloadError(
                    f"{call.label}: the server redirected to a "
                    f"{self.session.site.clean(url.scheme, limit=20)}: URL; "
                    "only http and https redirects are followed"
                )
            if str(url) in visited:
                raise DownloadError(f"{call.label}: the server's redirects go round in a loop")
            visited.add(str(url))
            request = following

    async def _receive(self, response: httpx.Response) -> bool:
        """Handle one response; True when the file is complete."""
        if response.status_code == 416 and self.part.size:
            self._restart()  # the part is longer than the asset: it is stale
            return False
        if not response.is_success:
            body = await read_error_body(response)
            self.failures += 1
            error = self.session.response_error(self.call, response, body)
            await self.session.retry_or_raise(self.call, error, self.failures)
            return False
        total = self._accept(response)
        try:
            # Raw bytes, never decoded. Network reads are bounded (64 KiB), and no
            # ``chunk_size`` is given: httpx would hold back received bytes a drop would lose.
            async for chunk in response.aiter_raw():
                self._append(chunk, total)
        except httpx.HTTPError as exc:
            await self._dropped(exc)
            return False
        if total is not None and self.part.size < total:
            # The body ended early without an error: treat it like a dropped connection.
            await self._dropped(None)
            return False
        return True

    def _accept(self, response: httpx.Response) -> int | None:
        """Check a success answer's headers before its body is read; the asset's announced
        size, if any. Restarts the part when a ``200`` answers a range request."""
        label = self.call.label
        headers = self.session.answer_headers(response)
        self.content_type = headers.get("content-type")
        declared = headers.get("content-encoding", "identity")
        if declared.strip().lower() not in ("", "identity"):
            # Shown as the (redacted) server sent it: lowering first would defeat redaction.
            shown = self.session.site.clean(declared.strip(), limit=40)
            raise ProtocolError(
                f"{label}: the server encoded the asset (Content-Encoding: {shown}); "
                "media must be sent as is"
            )
        if self.part.size and self.range_supported is not False:
            self.range_supported = response.status_code == 206
        try:
            total = _announced_total(response, self.part.size)
        except _Restart:
            self._restart()
            total = _announced_total(response, 0)
        except ProtocolError as exc:
            raise ProtocolError(f"{label}: {exc.message}") from exc
        if response.status_code == 206:
            if self.announced is not None and total is not None and total != self.announced:
                raise ProtocolError(
                    f"{label}: the asset changed size between requests "
                    f"({self.announced} bytes, then {total})"
                )
            self.resumed += 1
        if total is not None:
            self.announced = total
            if total > self.max_bytes:
                self._restart()  # an emptied part is removed: it could never be finished
                raise DownloadError(
                    f"{label}: the server announced {total} bytes, more than the "
                    f"{self.max_bytes} bytes allowed for one asset"
                )
        return total

    def _append(self, chunk: bytes, total: int | None) -> None:
        size = self.part.size + len(chunk)
        if total is not None and size > total:
            raise ProtocolError(
                f"{self.call.label}: the server sent more than the {total} bytes it announced"
            )
        if size > self.max_bytes:
            self._restart()
            raise DownloadError(
                f"{self.call.label}: the asset is larger than the {self.max_bytes} bytes "
                "allowed for one asset"
            )
        self.part.write(chunk)
        self.hasher.update(chunk)

    def _restart(self) -> None:
        self.part.truncate()
        self.hasher = hashlib.sha256()

    async def _dropped(self, exc: Exception | None) -> None:
        """Count a failed attempt and wait before the next, or raise when out of attempts."""
        progressed = self.part.size > self.high_water
        self.high_water = max(self.high_water, self.part.size)
        self.failures = 1 if progressed else self.failures + 1
        if exc is not None and not retryable_transport(exc):
            raise self.session.transport_error(exc, self.call.label, self.failures) from exc
        if self.failures >= self.session.retry.max_attempts or self.requests >= self.budget:
            raise DownloadError(self._gave_up(exc)) from exc
        await self.session.pause(self.failures, None)

    def _gave_up(self, exc: Exception | None) -> str:
        """Why the transfer stops here, in one line."""
        have, total = self.part.size, self.announced
        attempts = "1 attempt" if self.requests == 1 else f"{self.requests} attempts"
        if total is not None and have < total:
            what = f"the server sent {have} of the {total} bytes it announced, on {attempts}"
        else:
            what = f"{type(exc).__name__ if exc else 'no answer'} on {attempts}"
        return f"{self.call.label}: {what}; {have} bytes kept for a later resume"


def _os_reason(exc: OSError) -> str:
    """``"no space left on device"``, ``"permission denied"``…: the OS's words, one line."""
    text = " ".join((exc.strerror or type(exc).__name__).split())
    return text[:1].lower() + text[1:]


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_size == 0:
            path.unlink()
