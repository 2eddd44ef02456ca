"""Downloads against a hostile server on loopback: every trick ends in a bounded, one-line error.

The server (``tests/hostile.py``) writes exactly the bytes each test scripts: gzip bombs, wrong
``Content-Length`` in both directions, redirects anywhere, bodies that never end. Each test
asserts what the server received (its ground truth) and that the call returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai_fakes import FakeClock, media, padded_mp4

from hostile import HostileServer, Reply, Request, gzip_bomb
from reelforge.core.errors import DownloadError, ProtocolError, ReelforgeError
from reelforge.core.models import DownloadResult, Variant
from reelforge.providers import OpenAIVideosProvider

KEY = "sk-test-hostile-0123456789"
CONTENT = "/v1/videos/video_1/content"
LABEL = "download the video of video video_1"
_RANGE_RE = re.compile(r"bytes=(\d+)-")

MakeProvider = Callable[..., OpenAIVideosProvider]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[Request], Reply]], HostileServer]]:
    """``serve(handler)`` → a running :class:`HostileServer`, stopped after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda handler: stack.enter_context(HostileServer(handler))


@pytest.fixture
async def provider_for(clock: FakeClock) -> AsyncIterator[Callable[..., OpenAIVideosProvider]]:
    """``provider_for(server, **kwargs)`` → a provider over a real client, default retry policy."""
    async with httpx.AsyncClient(timeout=5) as client:

        def make(server: HostileServer, **kwargs: Any) -> OpenAIVideosProvider:
            kwargs.setdefault("api_key", KEY)
            kwargs.setdefault("clock", clock)
            kwargs.setdefault("rng", random.Random(7))
            return OpenAIVideosProvider(client, base_url=server.base_url, **kwargs)

        yield make


async def _download(
    provider: OpenAIVideosProvider, dest: Path, variant: Variant = Variant.VIDEO
) -> DownloadResult:
    async with asyncio.timeout(20):  # a hang fails here, long before the suite's timeout
        return await provider.download("video_1", variant, dest)


def _one_line(error: ReelforgeError) -> str:
    text = str(error)
    assert "\n" not in text
    return text


def _offset(request: Request) -> int:
    match = _RANGE_RE.fullmatch(request.headers.get("range", "bytes=0-"))
    assert match is not None
    return int(match.group(1))


def _asset_reply(asset: bytes, request: Request) -> Reply:
    """An honest answer: 200 for the whole asset, 206 from the requested offset."""
    offset = _offset(request)
    headers = [("Content-Type", "video/mp4")]
    if offset == 0:
        return Reply(headers=headers, body=asset)
    headers.append(("Content-Range", f"bytes {offset}-{len(asset) - 1}/{len(asset)}"))
    return Reply(status=206, reason="Partial Content", headers=headers, body=asset[offset:])


class _Trickle:
    """A body of ``count`` chunks that records how many the server produced."""

    def __init__(self, count: int, size: int) -> None:
        self.count = count
        self.size = size
        self.produced = 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.count):
            self.produced += 1
            yield bytes(self.size)


@functools.cache
def _bomb() -> bytes:
    return gzip_bomb(16 * 1024 * 1024)


# -- 1. content encoding and the size cap ------------------------------------------------------


async def test_a_gzip_encoded_asset_is_refused_without_being_inflated(
    serve: Any, provider_for: MakeProvider, tmp_path: Path
) -> None:
    headers = [("Content-Type", "video/mp4"), ("Content-Encoding", "gzip")]
    server = serve(lambda request: Reply(headers=headers, body=_bomb()))
    dest = tmp_path / "video.mp4"

    with pytest.raises(ProtocolError) as caught:
        await _download(provider_for(server), dest)

    assert _one_line(caught.value) == (
        f"{LABEL}: the server encoded the asset (Content-Encoding: gzip); media must be sent as is"
    )
    assert not dest.exists()
    assert not dest.with_name("video.mp4.part").exists()
    [request] = server.requests
    assert request.headers["accept-encoding"] == "identity"


async def test_gzip_bytes_sent_unlabelled_are_kept_raw_and_fail_the_media_check(
    serve: Any, provider_for: MakeProvider, tmp_path: Path
) -> None:
    server = serve(lambda request: Reply(headers=[("Content-Type", "video/mp4")], body=_bomb()))
    dest = tmp_path / "video.mp4"

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server), dest)

    assert _one_line(caught.value) == (
        f"{LABEL}: the video is not an MP4 video (the bytes look like gzip-compressed data)"
    )
    assert not dest.with_name("video.mp4.part").exists()
    assert len(server.requests) == 1


async def test_a_content_length_above_the_cap_fails_before_the_body_is_read(
    serve: Any, provider_for: MakeProvider, tmp_path: Path
) -> None:
    body = _Trickle(count=10, size=100_000)
    server = serve(lambda request: Reply(body=body, content_length=1_000_000, chunk_delay=0.2))
    dest = tmp_path / "video.mp4"

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server, max_asset_bytes=100_000), dest)

    assert _one_line(caught.value) == (
        f"{LABEL}: the server announced 1000000 bytes, more than the 100000 bytes allowed "
        "for one asset"
    )
    assert not dest.with_name("video.mp4.part").exists()
    assert len(server.requests) == 1
    assert body.produced < body.count  # the client hung up; it never waited for the body


async def test_a_body_streaming_past_the_cap_fails_as_soon_as_it_passes(
    serve: Any, provider_for: MakeProvider, tmp_path: Path
) -> None:
    body = _Trickle(count=40, size=10_000)  # no Content-Length: it ends when the server closes
    server = serve(lambda request: Reply(body=body, content_length=None, chunk_delay=0.05))
    dest = tmp_path / "video.mp4"

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server, max_asset_bytes=50_000), dest)

    assert _one_line(caught.value) == (
        f"{LABEL}: the asset is larger than the 50000 bytes allowed for one asset"
    )
    assert not dest.with_name("video.mp4.part").exists()
    assert len(server.requests) == 1
    assert body.produced < body.count


async def test_the_asset_cap_must_be_positive() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ReelforgeError, match="max_asset_bytes"):
            OpenAIVideosProvider(client, max_asset_bytes=0)


# -- 2. a body shorter than announced, every time ----------------------------------------------


async def test_a_server_that_always_sends_less_than_it_announces_is_given_up_on(
    serve: Any, provider_for: MakeProvider, tmp_path: Path, clock: FakeClock
) -> None:
    asset = padded_mp4(200_000)
    # Ignores Range; announces the whole asset, sends 30,000 bytes, closes.
    server = serve(lambda request: Reply(body=asset[:30_000], content_length=len(asset)))
    dest = tmp_path / "video.mp4"

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server), dest)

    assert _one_line(caught.value) == (
        f"{LABEL}: the server sent 30000 of the 200000 bytes it announced, on 4 attempts; "
        "30000 bytes kept for a later resume"
    )
    assert dest.with_name("video.mp4.part").stat().st_size == 30_000
    assert not dest.exists()
    # A restart that gets no further than before is no progress: max_attempts (4) requests.
    assert [_offset(r) for r in server.requests] == [0, 30_000, 30_000, 30_000]
    assert sum(clock.sleeps) < 10


async def test_a_server_that_honours_range_but_always_stops_short_has_a_request_budget(
    serve: Any, provider_for: MakeProvider, tmp_path: Path, clock: FakeClock
) -> None:
    asset = padded_mp4(200_000)

    def handler(request: Request) -> Reply:
        reply = _asset_reply(asset, request)
        reply.content_length = len(asset) - _offset(request)
        reply.drop_after = 1000  # each answer progresses by 1,000 bytes, then ends
        return reply

    server = serve(handler)
    dest = tmp_path / "video.mp4"

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server), dest)

    assert _one_line(caught.value) == (
        f"{LABEL}: the server sent 12000 of the 200000 bytes it announced, on 12 attempts; "
        "12000 bytes kept for a later resume"
    )
    # max_attempts (4) x 3 requests at most, each resuming where the last one stopped.
    assert [_offset(r) for r in server.requests] == [1000 * n for n in range(12)]
    assert sum(clock.sleeps) < 10  # backoff restarts after progress: seconds, not minutes
    assert dest.with_name("video.mp4.part").read_bytes() == asset[:12_000]


# -- 3. a body longer than announced, and the media check --------------------------------------


@pytest.mark.parametrize(
    ("variant", "damage"),
    [
        (Variant.VIDEO, "the video is a damaged MP4 video: the 'free' box at byte"),
        (Variant.THUMBNAIL, "the thumbnail is a damaged WebP image: its RIFF header declares"),
        (Variant.SPRITESHEET, "the spritesheet is a damaged JPEG image: it does not end with"),
    ],
)
async def test_a_body_longer_than_announced_is_cut_and_never_kept(
    serve: Any, provider_for: MakeProvider, tmp_path: Path, variant: Variant, damage: str
) -> None:
    asset = padded_mp4(60_000) if variant is Variant.VIDEO else media(variant)
    # HTTP stops reading at the announced length: what arrives is the asset cut short.
    server = serve(lambda request: Reply(body=asset, content_length=len(asset) - 100))
    dest = tmp_path / variant.filename

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server), dest, variant)

    message = _one_line(caught.value)
    assert message.startswith(f"download the {variant.value} of video video_1: {damage}")
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()  # never resumed from
    assert len(server.requests) == 1


async def test_the_wrong_media_for_a_variant_is_named(
    serve: Any, provider_for: MakeProvider, tmp_path: Path
) -> None:
    server = serve(lambda request: Reply(body=media(Variant.VIDEO)))
    dest = tmp_path / "thumbnail.webp"

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server), dest, Variant.THUMBNAIL)

    assert _one_line(caught.value) == (
        "download the thumbnail of video video_1: the thumbnail is not a WebP image "
        "(the bytes look like an MP4 video)"
    )
    assert not dest.with_name("thumbnail.webp.part").exists()


async def test_real_media_of_every_variant_downloads(
    serve: Any, provider_for: MakeProvider, tmp_path: Path
) -> None:
    server = serve(lambda request: Reply(body=media(Variant(request.query["variant"]))))
    provider = provider_for(server)

    for variant in Variant:
        result = await _download(provider, tmp_path / variant.filename, variant)
        assert result.path.read_bytes() == media(variant)

    assert [r.query["variant"] for r in server.requests] == [v.value for v in Variant]


# -- 4. redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/video.mp4"])
async def test_a_redirect_to_another_scheme_is_refused(
    serve: Any, provider_for: MakeProvider, tmp_path: Path, location: str
) -> None:
    server = serve(
        lambda request: Reply(status=302, reason="Found", headers=[("Location", location)])
    )
    scheme = location.split(":", 1)[0]

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server), tmp_path / "video.mp4")

    assert _one_line(caught.value) == (
        f"{LABEL}: the server redirected to a {scheme}: URL; only http and https redirects "
        "are followed"
    )
    assert len(server.requests) == 1
    assert not (tmp_path / "video.mp4.part").exists()


@pytest.mark.parametrize("location", ["data:,hello", "mailto:someone@example.com"])
async def test_a_redirect_to_an_unusable_url_is_refused(
    serve: Any, provider_for: MakeProvider, tmp_path: Path, location: str
) -> None:
    server = serve(
        lambda request: Reply(status=302, reason="Found", headers=[("Location", location)])
    )

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server), tmp_path / "video.mp4")

    assert _one_line(caught.value) == f"{LABEL}: the server redirected to an unusable URL"
    assert len(server.requests) == 1


async def test_a_redirect_loop_is_refused(
    serve: Any, provider_for: MakeProvider, tmp_path: Path
) -> None:
    hops = {CONTENT: "/loop/a", "/loop/a": "/loop/b", "/loop/b": "/loop/a"}
    server = serve(
        lambda request: Reply(
            status=302, reason="Found", headers=[("Location", hops[request.path])]
        )
    )

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server), tmp_path / "video.mp4")

    assert _one_line(caught.value) == f"{LABEL}: the server's redirects go round in a loop"
    assert [r.path for r in server.requests] == [CONTENT, "/loop/a", "/loop/b"]


async def test_at_most_five_redirects_are_followed(
    serve: Any, provider_for: MakeProvider, tmp_path: Path
) -> None:
    def handler(request: Request) -> Reply:
        hop = 0 if request.path == CONTENT else int(request.path.rsplit("/", 1)[1])
        return Reply(
            status=307, reason="Temporary Redirect", headers=[("Location", f"/hop/{hop + 1}")]
        )

    server = serve(handler)

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server), tmp_path / "video.mp4")

    assert _one_line(caught.value) == f"{LABEL}: the server redirected more than 5 times"
    assert len(server.requests) == 6


async def test_a_cross_origin_redirect_does_not_carry_the_api_key(
    serve: Any, provider_for: MakeProvider, tmp_path: Path
) -> None:
    asset = padded_mp4(40_000)
    cdn = serve(lambda request: _asset_reply(asset, request))

    def api(request: Request) -> Reply:
        if request.path == CONTENT:  # same origin first, then a CDN on another port
            return Reply(status=302, reason="Found", headers=[("Location", "/signed/video")])
        return Reply(status=302, reason="Found", headers=[("Location", f"{cdn.url}/assets/v1")])

    server = serve(api)

    result = await _download(provider_for(server), tmp_path / "video.mp4")

    assert result.path.read_bytes() == asset
    assert [r.headers.get("authorization") for r in server.requests] == [f"Bearer {KEY}"] * 2
    [fetched] = cdn.requests
    assert fetched.path == "/assets/v1"
    assert "authorization" not in fetched.headers
    assert KEY not in json.dumps(fetched.headers)


# -- 5. the local disk -------------------------------------------------------------------------


def _run(tool: str, *args: str) -> None:
    """Run a system tool (``mount``, ``umount``) found on ``PATH``; fail loudly without it."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is needed for this test and is not installed")
    subprocess.run(  # noqa: S603  # a system tool, our arguments
        [path, *args], check=True, capture_output=True
    )


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "these tests mount a tmpfs and drop privileges, so they must run as root "
            "(they do in CI and in the dev container); run pytest as root"
        )


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs mounted for the test (root only)."""
    _require_root()
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    _run("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mountpoint))
    try:
        yield mountpoint
    finally:
        _run("umount", str(mountpoint))


async def test_a_full_disk_is_a_one_line_error_and_the_part_resumes_later(
    serve: Any, provider_for: MakeProvider, tiny_disk: Path
) -> None:
    asset = padded_mp4(1024 * 1024)
    server = serve(lambda request: _asset_reply(asset, request))
    provider = provider_for(server)
    dest = tiny_disk / "job" / "video.mp4"

    with pytest.raises(DownloadError) as caught:
        await _download(provider, dest)

    assert _one_line(caught.value) == f"{LABEL}: cannot save video.mp4: no space left on device"
    assert isinstance(caught.value.__cause__, OSError)
    part = dest.with_name("video.mp4.part")
    kept = part.stat().st_size
    assert 0 < kept <= 256 * 1024
    assert part.read_bytes() == asset[:kept]  # a clean prefix: resumable
    assert len(server.requests) == 1  # a full disk is not retried

    await asyncio.to_thread(_run, "mount", "-o", "remount,size=4m", str(tiny_disk))
    result = await _download(provider, dest)

    assert result.resumed == 1
    assert dest.read_bytes() == asset
    assert server.requests[-1].headers["range"] == f"bytes={kept}-"


async def test_a_read_only_destination_is_a_one_line_error(
    serve: Any, provider_for: MakeProvider, tiny_disk: Path
) -> None:
    await asyncio.to_thread(_run, "mount", "-o", "remount,ro", str(tiny_disk))
    server = serve(lambda request: Reply(body=media(Variant.VIDEO)))

    with pytest.raises(DownloadError) as caught:
        await _download(provider_for(server), tiny_disk / "video.mp4")

    assert _one_line(caught.value) == f"{LABEL}: cannot save video.mp4: read-only file system"
    assert server.requests == []


_UNPRIVILEGED_DOWNLOAD = """
import asyncio, json, sys
from pathlib import Path
import httpx
from reelforge.core.errors import ReelforgeError
from reelforge.core.models import Variant
from reelforge.providers import OpenAIVideosProvider

async def main() -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        provider = OpenAIVideosProvider(client, base_url=sys.argv[1], api_key="k")
        try:
            await provider.download("video_1", Variant.VIDEO, Path(sys.argv[2]))
        except ReelforgeError as exc:
            print(json.dumps({"type": type(exc).__name__, "message": str(exc)}))

asyncio.run(main())
"""


@pytest.mark.slow  # a second interpreter imports reelforge: a few seconds
def test_an_unwritable_destination_says_permission_denied(serve: Any, tmp_path: Path) -> None:
    _require_root()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to drop root's file-permission override")
    server = serve(lambda request: Reply(body=media(Variant.VIDEO)))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    # Still uid 0 (the interpreter stays readable), but without the capabilities that let root
    # ignore permissions: the directory's mode applies.
    command = [
        setpriv,
        "--inh-caps=-all",
        "--bounding-set=-dac_override,-dac_read_search",
        "--",
        sys.executable,
        "-c",
        _UNPRIVILEGED_DOWNLOAD,
        server.base_url,
        str(locked / "job" / "video.mp4"),
    ]

    finished = subprocess.run(  # noqa: S603  # our own interpreter and a fixed script
        command, capture_output=True, text=True, timeout=60, check=False
    )

    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == ""  # no traceback
    assert json.loads(finished.stdout) == {
        "type": "DownloadError",
        "message": f"{LABEL}: cannot save video.mp4: permission denied",
    }
    assert server.requests == []
