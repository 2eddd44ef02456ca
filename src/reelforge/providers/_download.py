"""Resumable, verified, constant-memory download of one asset to a file.

The bytes go to ``<dest>.part``. After a dropped connection the transfer resumes with
``Range: bytes=<have>-`` (a ``206`` continues the part; a ``200`` means the server ignored the
range, so the part is discarded and the transfer restarts). The SHA-256 is computed as the
bytes arrive (an existing part is re-hashed first), the size is checked against
``Content-Length`` / ``Content-Range``, and the file is fsynced and renamed atomically into place.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import httpx

from reelforge.core.errors import AssetExpiredError, DownloadError, ProtocolError
from reelforge.core.models import DownloadResult, Variant
from reelforge.providers._errors import Endpoint
from reelforge.providers._http import (
    Call,
    CallKind,
    Session,
    read_error_body,
    retryable_transport,
)

__all__ = ["download_asset"]

_HASH_BLOCK = 1024 * 1024
_PROGRESS_ALLOWANCE = 10
"""A transfer that keeps making progress may make this many times ``max_attempts`` requests."""
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)", re.ASCII)


class _Restart(Exception):
    """The part on disk cannot be continued; start over from byte 0."""


class _PartFile:
    """The ``.part`` file: synchronous, small operations (each one chunk at most)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.path = path
        self.file: BinaryIO = os.fdopen(fd, "r+b")
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
        self.file.write(chunk)
        self.size += len(chunk)

    def sync(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())


@dataclass(frozen=True, kw_only=True, slots=True)
class _Expected:
    """What the response says the finished file will be."""

    total: int | None


def _expected(response: httpx.Response, have: int) -> _Expected:
    """Check a success status against what was asked; raise :class:`_Restart` to start over."""
    encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
    if response.status_code == 200:
        if have:
            raise _Restart
        length = response.headers.get("content-length", "")
        return _Expected(total=int(length) if length.isdigit() and not encoded else None)
    if response.status_code == 206:
        match = _CONTENT_RANGE_RE.fullmatch(response.headers.get("content-range", "").strip())
        if match is None or not have:
            raise ProtocolError("a 206 answer without a usable Content-Range")
        start, end, total_text = match.groups()
        total = None if total_text == "*" else int(total_text)
        if int(start) != have or int(end) < int(start) or (total is not None and int(end) >= total):
            raise ProtocolError(f"a 206 answer for the wrong range ({match.group(0)})")
        return _Expected(total=total)
    raise ProtocolError(f"unexpected HTTP {response.status_code} for a download")


async def download_asset(
    session: Session, *, remote_id: str, variant: Variant, dest: Path
) -> DownloadResult:
    """Download ``variant`` of ``remote_id`` to ``dest`` (see the module docstring)."""
    call = Call(
        method="GET",
        path=f"/videos/{remote_id}/content",
        kind=CallKind.READ,
        endpoint=Endpoint.CONTENT,
        label=f"download the {variant.value} of video {remote_id}",
        params={"variant": variant.value},
    )
    part_path = dest.with_name(dest.name + ".part")
    try:
        with _PartFile(part_path) as part:
            transfer = _Transfer(session, call, part)
            await transfer.run()
            await asyncio.to_thread(part.sync)
        os.replace(part_path, dest)
        _sync_directory(dest.parent)
    except (AssetExpiredError, ProtocolError):
        part_path.unlink(missing_ok=True)  # useless or corrupt: never resume from it
        raise
    except OSError as exc:
        raise DownloadError(f"{call.label}: cannot write {dest.name}: {exc.strerror}") from exc
    except BaseException:
        _remove_if_empty(part_path)  # e.g. "not ready yet": leave no empty part behind
        raise
    return DownloadResult(
        variant=variant,
        path=dest,
        size=transfer.part.size,
        sha256=transfer.hasher.hexdigest(),
        resumed=transfer.resumed,
    )


class _Transfer:
    """The request loop of one download."""

    def __init__(self, session: Session, call: Call, part: _PartFile) -> None:
        self.session = session
        self.call = call
        self.part = part
        self.hasher = hashlib.sha256()
        self.resumed = 0
        self.failures = 0
        """Consecutive failed attempts that added no bytes."""

    async def run(self) -> None:
        session, call = self.session, self.call
        if self.part.size:
            self.hasher = await asyncio.to_thread(self.part.rehash)
        budget = session.retry.max_attempts * _PROGRESS_ALLOWANCE
        for _ in range(budget):
            headers = session.headers("application/binary")
            headers["Accept-Encoding"] = "identity"
            if self.part.size:
                headers["Range"] = f"bytes={self.part.size}-"
            request = session.client.build_request(
                "GET", session.url(call.path), params=call.params, headers=headers
            )
            try:
                response = await session.client.send(request, stream=True, follow_redirects=True)
            except httpx.HTTPError as exc:
                await self._dropped(exc, progressed=False)
                continue
            try:
                if await self._receive(response):
                    return
            finally:
                await response.aclose()
        raise DownloadError(
            f"{call.label}: gave up after {budget} requests; "
            f"{self.part.size} bytes kept for a later resume"
        )

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
        try:
            expected = _expected(response, self.part.size)
        except _Restart:
            self._restart()
            expected = _expected(response, 0)
        except ProtocolError as exc:
            raise ProtocolError(f"{self.call.label}: {exc.message}") from exc
        if response.status_code == 206:
            self.resumed += 1
        before = self.part.size
        try:
            # No ``chunk_size``: httpx would hold back up to a chunk's worth of received bytes,
            # and a drop would lose them. Network reads are bounded (64 KiB) anyway.
            async for chunk in response.aiter_bytes():
                if expected.total is not None and self.part.size + len(chunk) > expected.total:
                    raise ProtocolError(
                        f"{self.call.label}: the server sent more than the "
                        f"{expected.total} bytes it announced"
                    )
                self.part.write(chunk)
                self.hasher.update(chunk)
        except httpx.HTTPError as exc:
            await self._dropped(exc, progressed=self.part.size > before)
            return False
        if expected.total is not None and self.part.size < expected.total:
            # The body ended early without an error: treat it like a dropped connection.
            await self._dropped(None, progressed=self.part.size > before)
            return False
        return True

    def _restart(self) -> None:
        self.part.truncate()
        self.hasher = hashlib.sha256()

    async def _dropped(self, exc: Exception | None, *, progressed: bool) -> None:
        """Count a failed attempt and wait before the next, or raise when out of attempts."""
        self.failures = 1 if progressed else self.failures + 1
        retry = self.session.retry
        if exc is not None and not retryable_transport(exc):
            raise self.session.transport_error(exc, self.call.label, self.failures) from exc
        if self.failures >= retry.max_attempts:
            reason = type(exc).__name__ if exc is not None else "a truncated body"
            error = DownloadError(
                f"{self.call.label}: {reason} on {self.failures} attempts in a row; "
                f"{self.part.size} bytes kept for a later resume"
            )
            raise error from exc
        await self.session.pause(self.failures, None)


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_size == 0:
            path.unlink()


def _sync_directory(directory: Path) -> None:
    """Make a rename durable (best effort: not every platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
