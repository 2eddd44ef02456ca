"""Fakes for provider tests: a clock, Video payloads, real media, streaming bodies, recorders."""

from __future__ import annotations

import functools
import random
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from reelforge.core.models import Variant
from reelforge.providers import OpenAIVideosProvider
from reelforge.sim.media import MediaJob, free_box_header, render_media

API_KEY = "sk-test-SECRET-0123456789abcdef"
BASE_URL = "https://gateway.example/v1"
OPENAI_URL = "https://api.openai.com/v1"

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


class FakeClock:
    """A clock whose sleeps return at once and are recorded."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds


def video(video_id: str = "video_1", **overrides: Any) -> dict[str, Any]:
    """A Video object as the protocol sends it, with ``overrides`` applied."""
    body: dict[str, Any] = {
        "id": video_id,
        "object": "video",
        "model": "sora-2",
        "status": "queued",
        "progress": 0,
        "created_at": 1_800_000_000,
        "completed_at": None,
        "expires_at": None,
        "prompt": "A calico cat playing a piano on stage",
        "size": "720x1280",
        "seconds": "4",
        "remixed_from_video_id": None,
        "error": None,
    }
    body.update(overrides)
    return body


def error_body(
    message: str, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """The protocol's error envelope."""
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


@functools.cache
def real_media() -> dict[Variant, bytes]:
    """Small valid media for each variant (an MP4, a WebP, a JPEG), rendered once per session."""
    job = MediaJob(
        video_id="video_1",
        prompt="A calico cat",
        model="sora-2",
        seconds=1,
        size="720x1280",
        seed=1,
    )
    with tempfile.TemporaryDirectory() as folder:
        paths = render_media(job, Path(folder), fps=4, media_scale=0.05)
        return {variant: path.read_bytes() for variant, path in paths.items()}


def media(variant: Variant) -> bytes:
    """The real media of ``variant``."""
    return real_media()[Variant(variant)]


def padded_mp4(size: int, *, seed: int = 0) -> bytes:
    """A valid MP4 of exactly ``size`` bytes: the real one, then a ``free`` box of random bytes."""
    video = real_media()[Variant.VIDEO]
    header = free_box_header(size - len(video))
    return video + header + random.Random(seed).randbytes(size - len(video) - len(header))


class ChunkedStream(httpx.AsyncByteStream):
    """A response body sent in chunks that can drop the connection after ``drop_after`` bytes."""

    def __init__(self, data: bytes, *, drop_after: int | None = None, chunk: int = 1024) -> None:
        self.data = data
        self.drop_after = drop_after
        self.chunk = chunk
        self.yielded = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            piece = self.data[start : start + self.chunk]
            if self.drop_after is not None and self.yielded + len(piece) > self.drop_after:
                cut = self.drop_after - self.yielded
                if cut:
                    self.yielded += cut
                    yield piece[:cut]
                raise httpx.ReadError("connection reset by peer")
            self.yielded += len(piece)
            yield piece


MakeProvider = Callable[..., tuple[OpenAIVideosProvider, "Recorder"]]
"""The ``make_provider`` fixture: ``make_provider(handler, **kwargs)`` → (provider, recorder)."""


class Recorder:
    """Wraps a handler and keeps every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        result = self.handler(request)
        if isinstance(result, httpx.Response):
            return result
        return await result


def sequence(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    """A handler answering each request with the next item (raising it if it is an exception)."""
    items: Iterator[httpx.Response | Exception] = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = next(items)
        if isinstance(item, Exception):
            if isinstance(item, httpx.RequestError):
                item.request = request
            raise item
        return item

    return handler
