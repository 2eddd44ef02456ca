"""Asset downloads: ``Range`` handling and streamed bodies, with an optional mid-stream drop."""

from __future__ import annotations

import re
from collections.abc import Iterator

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from reelforge.core.models import Variant
from reelforge.sim.media import MediaJob, MediaStore
from reelforge.sim.protocol import ApiError

__all__ = ["SimulatedDisconnect", "content_response", "parse_range"]

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class SimulatedDisconnect(ConnectionError):  # names what happens, like ConnectionResetError
    """Raised inside a download's body to cut the connection before the body is complete."""


class RangeNotSatisfiable(Exception):  # a signal, caught right away, not an error type
    """The requested range lies outside the asset."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` for a single ``bytes=`` range, ``None`` to send everything.

    Several ranges, or a header that is not a byte range, are ignored (the whole asset is sent,
    as RFC 9110 allows). Raises :class:`RangeNotSatisfiable` when the range misses the asset.
    """
    if not header:
        return None
    match = _RANGE_RE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable
        return max(0, size - length), size
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiable
    end = size if not last else min(int(last) + 1, size)
    if end <= start:
        return None
    return start, end


def _body(
    media: MediaStore, job: MediaJob, variant: Variant, start: int, end: int, drop_after: int | None
) -> Iterator[bytes]:
    sent = 0
    for piece in media.chunks(job, variant, start, end):
        if drop_after is not None and sent + len(piece) >= drop_after:
            head = piece[: max(0, drop_after - sent)]
            if head:
                yield head
            raise SimulatedDisconnect(
                f"download of {job.video_id} {variant} cut after {drop_after} bytes"
            )
        sent += len(piece)
        yield piece


async def content_response(
    media: MediaStore,
    job: MediaJob,
    variant: Variant,
    range_header: str | None,
    *,
    drop_fraction: float | None,
) -> Response:
    """A 200 or 206 streamed response for an asset; ``drop_fraction`` cuts it part-way."""
    size = await run_in_threadpool(media.size, job, variant)
    try:
        window = parse_range(range_header, size)
    except RangeNotSatisfiable:
        raise ApiError(
            status=416,
            message=f"Requested range not satisfiable (asset is {size} bytes).",
            param="range",
            code="range_not_satisfiable",
            headers={"content-range": f"bytes */{size}"},
        ) from None
    start, end = window if window is not None else (0, size)
    headers = {
        "accept-ranges": "bytes",
        "content-length": str(end - start),
        "content-disposition": f'attachment; filename="{variant.filename}"',
    }
    status = 200
    if window is not None:
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    drop_after = None
    if drop_fraction is not None:
        drop_after = max(1, int((end - start) * drop_fraction))
    return StreamingResponse(
        _body(media, job, variant, start, end, drop_after),
        status_code=status,
        headers=headers,
        media_type=variant.media_type,
    )
