"""Downloads stream to ``.part``, resume with Range after a drop, verify, and rename atomically."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from openai_fakes import (
    ChunkedStream,
    FakeClock,
    MakeProvider,
    error_body,
    media,
    padded_mp4,
    video,
)

from reelforge.core.errors import (
    AssetExpiredError,
    AuthError,
    DownloadError,
    NotFoundError,
    ProtocolError,
    ReelforgeError,
)
from reelforge.core.models import Variant

ASSET = padded_mp4(102_400)  # a real MP4, padded with a free box
DIGEST = hashlib.sha256(ASSET).hexdigest()
_RANGE_RE = re.compile(r"bytes=(\d+)-")


def served_from(
    offset: int,
    *,
    drop_after: int | None = None,
    asset: bytes = ASSET,
    content_type: str = "video/mp4",
) -> httpx.Response:
    """The asset from ``offset`` (206 with Content-Range, or 200 from 0)."""
    body = asset[offset:]
    headers = {"content-type": content_type, "content-length": str(len(body))}
    status = 200
    if offset:
        status = 206
        headers["content-range"] = f"bytes {offset}-{len(asset) - 1}/{len(asset)}"
    return httpx.Response(
        status, headers=headers, stream=ChunkedStream(body, drop_after=drop_after)
    )


def tree(folder: Path) -> list[str]:
    """Everything under ``folder``, as sorted relative paths."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def requested_offset(request: httpx.Request) -> int:
    match = _RANGE_RE.fullmatch(request.headers.get("range", "bytes=0-"))
    assert match is not None
    return int(match.group(1))


async def test_download_streams_to_dest_with_checksum(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    provider, recorder = make_provider(lambda request: served_from(0))
    dest = tmp_path / "job" / "video.mp4"

    result = await provider.download("video_1", Variant.VIDEO, dest)

    assert result.path == dest
    assert result.size == len(ASSET)
    assert result.sha256 == DIGEST
    assert result.resumed == 0
    assert dest.read_bytes() == ASSET
    assert not dest.with_name("video.mp4.part").exists()
    request = recorder.requests[0]
    assert request.url.path == "/v1/videos/video_1/content"
    assert request.url.params["variant"] == "video"
    assert request.headers["accept"] == "application/binary"
    assert "range" not in request.headers


@pytest.mark.parametrize("variant", list(Variant))
async def test_each_variant_is_requested_by_name(
    make_provider: MakeProvider, tmp_path: Path, variant: Variant
) -> None:
    provider, recorder = make_provider(
        lambda request: served_from(0, asset=media(variant), content_type=variant.media_type)
    )

    result = await provider.download("video_1", variant, tmp_path / variant.filename)

    assert recorder.requests[0].url.params["variant"] == variant.value
    assert result.path.read_bytes() == media(variant)
    assert result.range_supported is None  # no Range was needed


async def test_a_drop_mid_download_resumes_with_range(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = requested_offset(request)
        return served_from(offset, drop_after=30_000 if offset == 0 else None)

    provider, recorder = make_provider(handler)
    dest = tmp_path / "video.mp4"

    result = await provider.download("video_1", Variant.VIDEO, dest)

    assert result.resumed == 1
    assert result.range_supported is True
    assert result.sha256 == DIGEST
    assert result.size == len(ASSET)
    assert dest.read_bytes() == ASSET
    assert [r.headers.get("range") for r in recorder.requests] == [None, "bytes=30000-"]


async def test_several_drops_each_resume_where_they_stopped(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = requested_offset(request)
        return served_from(offset, drop_after=20_000 if offset < 80_000 else None)

    provider, recorder = make_provider(handler)

    result = await provider.download("video_1", Variant.VIDEO, tmp_path / "video.mp4")

    assert result.sha256 == DIGEST
    assert result.resumed == 4
    assert len(recorder.requests) == 5


async def test_a_server_that_ignores_range_restarts_from_zero(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(requested_offset(request))
        return served_from(0, drop_after=30_000 if len(attempts) == 1 else None)

    provider, _ = make_provider(handler)
    dest = tmp_path / "video.mp4"

    result = await provider.download("video_1", Variant.VIDEO, dest)

    assert attempts == [0, 30_000]
    assert result.sha256 == DIGEST
    assert result.size == len(ASSET)
    assert result.resumed == 0
    assert dest.read_bytes() == ASSET


async def test_a_part_left_by_an_earlier_run_is_rehashed_and_continued(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    dest = tmp_path / "video.mp4"
    dest.with_name("video.mp4.part").write_bytes(ASSET[:50_000])
    provider, recorder = make_provider(lambda request: served_from(requested_offset(request)))

    result = await provider.download("video_1", Variant.VIDEO, dest)

    assert recorder.requests[0].headers["range"] == "bytes=50000-"
    assert result.sha256 == DIGEST
    assert result.resumed == 1


async def test_a_stale_part_longer_than_the_asset_is_discarded(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    dest = tmp_path / "video.mp4"
    dest.with_name("video.mp4.part").write_bytes(b"x" * (len(ASSET) + 10))

    def handler(request: httpx.Request) -> httpx.Response:
        if requested_offset(request) >= len(ASSET):
            return httpx.Response(416, headers={"content-range": f"bytes */{len(ASSET)}"})
        return served_from(requested_offset(request))

    provider, _ = make_provider(handler)

    result = await provider.download("video_1", Variant.VIDEO, dest)

    assert result.sha256 == DIGEST


async def test_a_body_shorter_than_content_length_is_resumed(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = requested_offset(request)
        if offset == 0:  # announces the whole asset, ends cleanly after half of it
            headers = {"content-length": str(len(ASSET))}
            return httpx.Response(200, headers=headers, stream=ChunkedStream(ASSET[:40_000]))
        return served_from(offset)

    provider, _ = make_provider(handler)

    result = await provider.download("video_1", Variant.VIDEO, tmp_path / "video.mp4")

    assert result.sha256 == DIGEST
    assert result.resumed == 1


async def test_more_bytes_than_announced_is_a_protocol_error_and_the_part_is_removed(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    headers = {"content-length": "1000"}
    provider, _ = make_provider(
        lambda request: httpx.Response(200, headers=headers, stream=ChunkedStream(ASSET))
    )
    dest = tmp_path / "video.mp4"

    with pytest.raises(ProtocolError, match="more than"):
        await provider.download("video_1", Variant.VIDEO, dest)

    assert not dest.exists()
    assert not dest.with_name("video.mp4.part").exists()


async def test_a_resume_announcing_another_total_is_a_protocol_error(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = requested_offset(request)
        if offset == 0:
            return served_from(0, drop_after=30_000)
        headers = {"content-range": f"bytes {offset}-{2 * len(ASSET) - 1}/{2 * len(ASSET)}"}
        return httpx.Response(206, headers=headers, stream=ChunkedStream(ASSET[offset:]))

    provider, recorder = make_provider(handler)
    dest = tmp_path / "video.mp4"

    with pytest.raises(ProtocolError, match="changed size between requests"):
        await provider.download("video_1", Variant.VIDEO, dest)

    assert len(recorder.requests) == 2
    assert not dest.with_name("video.mp4.part").exists()


async def test_drops_without_progress_give_up_and_keep_the_part(
    make_provider: MakeProvider, tmp_path: Path, clock: FakeClock
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = requested_offset(request)
        return served_from(offset, drop_after=10_000 if offset == 0 else 0)

    provider, recorder = make_provider(handler)
    dest = tmp_path / "video.mp4"

    with pytest.raises(DownloadError, match="10000 bytes kept") as caught:
        await provider.download("video_1", Variant.VIDEO, dest)

    assert isinstance(caught.value.__cause__, httpx.ReadError)
    assert dest.with_name("video.mp4.part").stat().st_size == 10_000
    assert not dest.exists()
    # The drop after progress counts as the first of max_attempts (4) failures in a row.
    assert len(recorder.requests) == 4
    assert len(clock.sleeps) == 3


async def test_5xx_on_content_is_retried(make_provider: MakeProvider, tmp_path: Path) -> None:
    answers = iter([httpx.Response(503, text="busy"), served_from(0)])
    provider, _ = make_provider(lambda request: next(answers))

    result = await provider.download("video_1", Variant.VIDEO, tmp_path / "video.mp4")

    assert result.sha256 == DIGEST


async def test_not_ready_is_a_clear_not_found_error(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    body = error_body("Video is not ready yet, use GET /v1/videos/{video_id} to check status.")
    provider, recorder = make_provider(lambda request: httpx.Response(404, json=body))

    with pytest.raises(NotFoundError, match="not ready yet"):
        await provider.download("video_1", Variant.VIDEO, tmp_path / "video.mp4")

    assert len(recorder.requests) == 1
    assert not (tmp_path / "video.mp4.part").exists()


async def test_404_saying_expired_is_asset_expired(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    body = error_body("The video assets have expired.")
    provider, _ = make_provider(lambda request: httpx.Response(404, json=body))

    with pytest.raises(AssetExpiredError):
        await provider.download("video_1", Variant.VIDEO, tmp_path / "video.mp4")


async def test_bare_404_on_an_expired_job_is_asset_expired(
    make_provider: MakeProvider, tmp_path: Path, clock: FakeClock
) -> None:
    expired = video(status="completed", progress=100, expires_at=int(clock.now()) - 60)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/content"):
            return httpx.Response(404, json=error_body("Not found"))
        return httpx.Response(200, json=expired)

    provider, recorder = make_provider(handler)

    with pytest.raises(AssetExpiredError):
        await provider.download("video_1", Variant.VIDEO, tmp_path / "video.mp4")

    assert [r.url.path for r in recorder.requests] == [
        "/v1/videos/video_1/content",
        "/v1/videos/video_1",
    ]


async def test_auth_failure_on_content_is_not_retried(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    provider, recorder = make_provider(lambda request: httpx.Response(401, json=error_body("no")))

    with pytest.raises(AuthError):
        await provider.download("video_1", Variant.VIDEO, tmp_path / "video.mp4")

    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "bad_id", ["..", ".", "x" * 1025, "video\n1", "v\x00", "video 1", "", "\u2028"]
)
async def test_an_unusable_id_is_never_requested(
    make_provider: MakeProvider, tmp_path: Path, bad_id: str
) -> None:
    provider, recorder = make_provider(lambda request: served_from(0))
    dest = tmp_path / "out" / "video.mp4"

    for operation in (
        provider.download(bad_id, Variant.VIDEO, dest),
        provider.fetch(bad_id),
        provider.delete(bad_id),
        provider.remix(bad_id, "again"),
    ):
        with pytest.raises(ProtocolError, match="not a valid video id") as caught:
            await operation
        assert len(caught.value.message) < 200

    assert recorder.requests == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("path_like", ["../x", "a/b", "/etc/passwd", "C:\\x", "..%2F..", "?a#b"])
async def test_a_path_like_id_is_one_encoded_url_segment_and_never_a_path(
    make_provider: MakeProvider, tmp_path: Path, path_like: str
) -> None:
    provider, recorder = make_provider(lambda request: served_from(0))
    dest = tmp_path / "out" / "video.mp4"

    await provider.download(path_like, Variant.VIDEO, dest)

    (request,) = recorder.requests
    segment = quote(path_like, safe="").encode()
    assert request.url.raw_path == b"/v1/videos/" + segment + b"/content?variant=video"
    assert tree(tmp_path) == ["out", "out/video.mp4"]


async def test_a_large_asset_streams_in_bounded_chunks(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    size = 8 * 1024 * 1024
    block = hashlib.sha256()
    payload = padded_mp4(size)
    block.update(payload)
    stream = ChunkedStream(payload, chunk=256 * 1024)
    headers = {"content-length": str(size)}
    provider, _ = make_provider(lambda request: httpx.Response(200, headers=headers, stream=stream))

    result = await provider.download("video_1", Variant.VIDEO, tmp_path / "video.mp4")

    assert result.size == size
    assert result.sha256 == block.hexdigest()


async def test_every_download_failure_is_a_reelforge_error(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.UnsupportedProtocol("nope", request=request)

    provider, _ = make_provider(handler)

    with pytest.raises(ReelforgeError):
        await provider.download("video_1", Variant.VIDEO, tmp_path / "video.mp4")
