"""Whatever a server answers to a JSON request, the call returns, within bounded memory.

Each test plays a misbehaving server on a raw loopback socket against the real adapter and checks
what the server received: a 200 MB body, a gzip bomb, encodings nobody asked for, bodies that
are not JSON. A JSON body is at most 1 MiB, whatever its encoding on the wire.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import struct
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest
from openai_fakes import video

from hostile import HostileServer, Reply, Request, gzip_bomb, json_reply
from reelforge.core.errors import AmbiguousSubmissionError, ProtocolError, TransientError
from reelforge.core.models import JobSpec, RemoteState, RemoteStatus
from reelforge.providers import OpenAIVideosProvider

SPEC = JobSpec(prompt="A lighthouse at dawn", model="sora-2", seconds=4, size="720x1280")
JSON_CAP = 1024 * 1024
GIB = 1024**3
T = TypeVar("T")
Handler = Callable[[Request], Reply]
Serve = Callable[[Handler], tuple[OpenAIVideosProvider, HostileServer]]


@functools.cache
def bomb(kind: str) -> bytes:
    """1 GiB of zeros, gzip-compressed to about 1 MB.

    ``"members"``: what ``gzip_bomb(GIB)`` builds, 1,024 one-MiB members (made from one member,
    so the test does not spend seconds compressing). ``"single"``: one member, so a decoder that
    inflates a whole network read at once turns 64 KiB into 64 MiB. After a full flush every
    MiB of zeros compresses to the same bytes, so the stream is that unit repeated, closed by an
    empty final block and the real CRC and size.
    """
    block = bytes(1024 * 1024)
    if kind == "members":
        return gzip_bomb(len(block)) * (GIB // len(block))
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    unit = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(GIB // len(block)):
        crc = zlib.crc32(block, crc)
    final = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
    return head + unit * (GIB // len(block) - 1) + final + struct.pack("<II", crc, GIB % 2**32)


async def returns(awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result, failing the test if it does not return within 20 seconds."""
    async with asyncio.timeout(20):
        return await awaitable


async def failure_and_peak(awaitable: Awaitable[object]) -> tuple[Exception, int]:
    """What ``awaitable`` raised (it must raise, within 20 seconds), and the most memory
    allocated at once (bytes, in every thread) while it ran."""
    tracemalloc.start()
    try:
        await returns(awaitable)
    except Exception as exc:
        return exc, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    raise AssertionError("the call succeeded")


def gzip_reply(
    body: bytes, status: int = 200, encoding: str = "gzip", *, announced: bool = True
) -> Reply:
    """``body`` sent as encoded JSON; ``announced=False`` leaves out its length (so nothing
    can be refused unread: the body ends when the connection closes)."""
    return Reply(
        status=status,
        headers=[("Content-Type", "application/json"), ("Content-Encoding", encoding)],
        body=body,
        content_length="auto" if announced else None,
    )


def endless(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes of a JSON-looking body, produced lazily."""
    block = b" " * chunk
    yield b'{"id": "video_1", "pad": "'
    for _ in range(total // chunk):
        yield block


def assert_one_line(error: BaseException) -> None:
    assert "\n" not in str(error)
    assert len(str(error)) < 400


async def test_json_requests_ask_for_an_unencoded_body(serve: Serve) -> None:
    provider, server = serve(lambda request: json_reply(video()))

    await returns(provider.fetch("video_1"))

    (request,) = server.received("GET", "/v1/videos/video_1")
    assert request.headers["accept-encoding"] == "identity"


async def test_a_200_mb_body_without_a_length_is_refused_after_the_cap(serve: Serve) -> None:
    provider, server = serve(
        lambda request: Reply(body=endless(200 * 1024 * 1024), content_length=None)
    )

    with pytest.raises(ProtocolError, match="larger than 1048576 bytes") as caught:
        await returns(provider.fetch("video_1"))

    assert_one_line(caught.value)
    assert len(server.received("GET", "/v1/videos/video_1")) == 1


async def test_a_200_mb_body_announced_in_content_length_is_refused_unread(serve: Serve) -> None:
    size = 200 * 1024 * 1024
    provider, server = serve(lambda request: Reply(body=endless(size), content_length=size))

    error, peak = await failure_and_peak(provider.fetch("video_1"))

    assert isinstance(error, ProtocolError)
    assert "209715200 bytes; at most 1048576" in error.message
    assert_one_line(error)
    assert peak < 8 * 1024 * 1024
    assert len(server.received("GET", "/v1/videos/video_1")) == 1


@pytest.mark.parametrize("kind", ["single", "members"])
async def test_a_gzip_bomb_on_retrieve_is_refused_within_bounded_memory(
    serve: Serve, kind: str
) -> None:
    body = bomb(kind)
    provider, server = serve(lambda request: gzip_reply(body, announced=False))

    error, peak = await failure_and_peak(provider.fetch("video_1"))

    assert isinstance(error, ProtocolError)
    assert "larger than 1048576 bytes" in error.message
    assert_one_line(error)
    assert peak < 16 * 1024 * 1024  # the cap plus a chunk or two, not a gigabyte
    assert len(server.received("GET", "/v1/videos/video_1")) == 1


@pytest.mark.parametrize("kind", ["single", "members"])
async def test_a_gzip_bomb_in_an_error_body_is_not_inflated(serve: Serve, kind: str) -> None:
    body = bomb(kind)
    provider, server = serve(lambda request: gzip_reply(body, status=503, announced=False))

    error, peak = await failure_and_peak(provider.fetch("video_1"))

    assert isinstance(error, TransientError)
    assert "HTTP 503" in error.message
    assert_one_line(error)
    assert peak < 16 * 1024 * 1024
    assert len(server.received("GET", "/v1/videos/video_1")) == 3  # retried, then given up


@pytest.mark.parametrize("kind", ["single", "members"])
async def test_a_gzip_bomb_answering_a_create_is_an_ambiguous_submission(
    serve: Serve, kind: str
) -> None:
    body = bomb(kind)
    provider, server = serve(lambda request: gzip_reply(body, announced=False))

    with pytest.raises(AmbiguousSubmissionError) as caught:
        await returns(provider.submit(SPEC))

    assert isinstance(caught.value, ProtocolError)
    assert "larger than" in caught.value.message
    assert_one_line(caught.value)
    assert len(server.received("POST", "/v1/videos")) == 1


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, no zlib header
        ("GZIP", lambda data: gzip.compress(data[:10]) + gzip.compress(data[10:])),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "multi-member-gzip"],
)
async def test_an_encoded_body_the_server_sent_anyway_is_decoded(
    serve: Serve, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    body = compress(json.dumps(video(status="in_progress", progress=55)).encode())
    provider, _ = serve(lambda request: gzip_reply(body, encoding=encoding))

    status: RemoteStatus = await returns(provider.fetch("video_1"))

    assert status.state is RemoteState.IN_PROGRESS
    assert status.progress == 55


async def test_a_compressed_body_just_over_the_cap_is_refused(serve: Serve) -> None:
    text = json.dumps(video(prompt="p" * JSON_CAP)).encode()
    provider, _ = serve(lambda request: gzip_reply(gzip.compress(text)))

    with pytest.raises(ProtocolError, match="larger than"):
        await returns(provider.fetch("video_1"))


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, gzip"])
async def test_an_encoding_that_is_not_supported_is_a_protocol_error_naming_it(
    serve: Serve, encoding: str
) -> None:
    provider, server = serve(lambda request: gzip_reply(b"\x1b\x00garbage", encoding=encoding))

    with pytest.raises(ProtocolError) as caught:
        await returns(provider.fetch("video_1"))

    assert f"encoded as {encoding!r}" in caught.value.message
    assert_one_line(caught.value)
    assert len(server.received("GET", "/v1/videos/video_1")) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"\x1f\x8b\x08\x00garbage-that-is-not-deflate",
        gzip.compress(json.dumps(video()).encode())[:-12],
    ],
    ids=["corrupt", "cut-short"],
)
async def test_a_broken_gzip_body_is_a_protocol_error(serve: Serve, body: bytes) -> None:
    provider, _ = serve(lambda request: gzip_reply(body, announced=False))

    with pytest.raises(ProtocolError, match="gzip body") as caught:
        await returns(provider.fetch("video_1"))

    assert_one_line(caught.value)


@pytest.mark.parametrize(
    "body", [b"<html>Bad gateway</html>", b"", b"\xff\xfe\x00", b'{"id": "video_1"'], ids=repr
)
async def test_a_200_that_is_not_json_is_a_protocol_error(serve: Serve, body: bytes) -> None:
    provider, server = serve(lambda request: Reply(body=body))

    with pytest.raises(ProtocolError, match="not valid JSON") as caught:
        await returns(provider.fetch("video_1"))

    assert_one_line(caught.value)
    assert caught.value.status_code == 200
    assert len(server.received("GET", "/v1/videos/video_1")) == 1


@pytest.mark.parametrize("body", [b"<html>OK</html>", b"", b'{"id": "video_1"'], ids=repr)
async def test_a_create_answered_with_a_200_that_is_not_json_is_ambiguous_once(
    serve: Serve, body: bytes
) -> None:
    provider, server = serve(lambda request: Reply(body=body))

    with pytest.raises(AmbiguousSubmissionError) as caught:
        await returns(provider.submit(SPEC))

    assert isinstance(caught.value, ProtocolError)
    assert caught.value.status_code == 200
    assert "the body is not valid JSON" in caught.value.message
    assert "the video may exist" in caught.value.message
    assert len(server.requests) == 1
    assert len(server.received("POST", "/v1/videos")) == 1
