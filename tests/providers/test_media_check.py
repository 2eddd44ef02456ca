"""A downloaded file must be the media of its variant: real MP4, WebP and JPEG structure."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest
from openai_fakes import media, padded_mp4

from reelforge.core.models import Variant
from reelforge.providers._media import (
    MAX_IMAGE_BYTES,
    MediaProblem,
    check_media,
    describe_bytes,
    media_problem,
)
from reelforge.sim.media import MediaJob, MediaStore, free_box_header


def _file(tmp_path: Path, data: bytes, name: str = "asset.part") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """The top-level boxes of a (32-bit sized) MP4 as (type, whole box)."""
    boxes, position = [], 0
    while position < len(data):
        size, kind = struct.unpack(">I4s", data[position : position + 8])
        boxes.append((kind, data[position : position + size]))
        position += size
    return boxes


@pytest.mark.parametrize("variant", list(Variant))
def test_real_media_of_each_variant_passes(tmp_path: Path, variant: Variant) -> None:
    assert media_problem(_file(tmp_path, media(variant)), variant) is None


def test_an_mp4_padded_with_a_free_box_passes(tmp_path: Path) -> None:
    assert media_problem(_file(tmp_path, padded_mp4(300_000)), Variant.VIDEO) is None


def test_64_bit_box_sizes_and_a_box_running_to_the_end_pass(tmp_path: Path) -> None:
    video = media(Variant.VIDEO)
    large = struct.pack(">I4sQ", 1, b"free", 16 + 100) + bytes(100)
    to_the_end = struct.pack(">I4s", 0, b"skip") + bytes(50)

    assert media_problem(_file(tmp_path, video + large + to_the_end), Variant.VIDEO) is None


def test_a_huge_sparse_mp4_is_checked_in_constant_memory(tmp_path: Path) -> None:
    video = media(Variant.VIDEO)
    size = 3 * 1024**3
    path = _file(tmp_path, video + free_box_header(size - len(video)))
    with path.open("r+b") as handle:
        handle.truncate(size)  # sparse: nothing is written
    tracemalloc.start()
    try:
        assert media_problem(path, Variant.VIDEO) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 256 * 1024


@pytest.mark.parametrize(
    ("variant", "served", "message"),
    [
        (
            Variant.THUMBNAIL,
            Variant.VIDEO,
            "the thumbnail is not a WebP image (the bytes look like an MP4 video)",
        ),
        (
            Variant.VIDEO,
            Variant.SPRITESHEET,
            "the video is not an MP4 video (the bytes look like a JPEG image)",
        ),
        (
            Variant.SPRITESHEET,
            Variant.THUMBNAIL,
            "the spritesheet is not a JPEG image (the bytes look like a WebP image)",
        ),
    ],
)
def test_another_variants_media_is_named(
    tmp_path: Path, variant: Variant, served: Variant, message: str
) -> None:
    assert media_problem(_file(tmp_path, media(served)), variant) == message


@pytest.mark.parametrize(
    ("data", "seen"),
    [
        (b"", "the file is empty"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "the bytes look like an HTML page"),
        (b'{"error": {"message": "nope"}}', "the bytes look like JSON"),
        (b"\x1f\x8b\x08\x00" + bytes(40), "the bytes look like gzip-compressed data"),
        (b"x" * 1000, "the bytes look like plain text"),
        (bytes(1000), "the bytes look like zero bytes"),
        (bytes(range(256)), "the bytes look like unrecognised binary data"),
    ],
)
def test_what_the_bytes_look_like_is_said(tmp_path: Path, data: bytes, seen: str) -> None:
    assert media_problem(_file(tmp_path, data), Variant.VIDEO) == (
        f"the video is not an MP4 video ({seen})"
    )


@pytest.mark.parametrize(
    ("variant", "served", "found"),
    [
        (Variant.THUMBNAIL, Variant.VIDEO, "video/mp4"),
        (Variant.SPRITESHEET, Variant.VIDEO, "video/mp4"),
        (Variant.SPRITESHEET, Variant.THUMBNAIL, "image/webp"),
        (Variant.VIDEO, Variant.SPRITESHEET, "image/jpeg"),
    ],
)
def test_another_kind_of_media_says_what_was_found(
    tmp_path: Path, variant: Variant, served: Variant, found: str
) -> None:
    problem = check_media(_file(tmp_path, media(served)), variant, served.media_type)

    assert problem is not None
    assert problem.found == found


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(50), "image/png"),
        (b"GIF89a" + bytes(50), "image/gif"),
        (b"<html><body>Bad gateway</body></html>", None),
        (b'{"error": "nope"}', None),
        (bytes(100), None),
    ],
)
def test_only_media_is_a_mismatch_anything_else_is_damage(
    tmp_path: Path, data: bytes, found: str | None
) -> None:
    problem = check_media(_file(tmp_path, data), Variant.THUMBNAIL)

    assert problem is not None
    assert problem.found == found


@pytest.mark.parametrize("variant", list(Variant))
@pytest.mark.parametrize(
    "content_type", [None, "", "application/octet-stream", "binary/octet-stream"]
)
def test_a_content_type_that_claims_nothing_leaves_it_to_the_bytes(
    tmp_path: Path, variant: Variant, content_type: str | None
) -> None:
    assert check_media(_file(tmp_path, media(variant)), variant, content_type) is None


@pytest.mark.parametrize(
    ("variant", "content_type"),
    [
        (Variant.VIDEO, "video/mp4"),
        (Variant.VIDEO, "Video/MP4; codecs=avc1"),
        (Variant.VIDEO, "application/mp4"),
        (Variant.THUMBNAIL, "image/webp"),
        (Variant.SPRITESHEET, "image/jpeg"),
        (Variant.SPRITESHEET, "image/jpg"),
    ],
)
def test_the_variant_s_own_content_type_passes(
    tmp_path: Path, variant: Variant, content_type: str
) -> None:
    assert check_media(_file(tmp_path, media(variant)), variant, content_type) is None


def test_the_right_bytes_labelled_as_other_media_are_a_mismatch(tmp_path: Path) -> None:
    problem = check_media(_file(tmp_path, media(Variant.THUMBNAIL)), Variant.THUMBNAIL, "video/mp4")

    assert problem == MediaProblem(
        "the server labels the thumbnail as 'video/mp4', not 'image/webp'", found="video/mp4"
    )


def test_the_right_bytes_labelled_as_a_web_page_are_refused(tmp_path: Path) -> None:
    problem = check_media(_file(tmp_path, media(Variant.VIDEO)), Variant.VIDEO, "text/html")

    assert problem == MediaProblem("the server labels the video as 'text/html', not 'video/mp4'")


def _with_mdat_payload(video: bytes, fill: bytes) -> bytes:
    """``video`` with the payload of its ``mdat`` box replaced by ``fill`` repeated."""
    out = b""
    for kind, box in _boxes(video):
        out += box[:8] + (fill * len(box))[: len(box) - 8] if kind == b"mdat" else box
    return out


@pytest.mark.parametrize("fill", [b"\x00", b"\xff", b"\x00\x00\x01\x65"])
def test_an_mp4_whose_frames_do_not_decode_is_damaged(tmp_path: Path, fill: bytes) -> None:
    video = _with_mdat_payload(media(Variant.VIDEO), fill)

    problem = media_problem(_file(tmp_path, video), Variant.VIDEO)

    assert problem is not None
    assert problem.startswith("the video is a damaged MP4 video: ")
    assert "decode" in problem
    assert str(tmp_path) not in problem


def test_an_mp4_without_a_video_stream_is_damaged(tmp_path: Path) -> None:
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
        frame.sample_rate = 8000
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)

    assert media_problem(path, Variant.VIDEO) == (
        "the video is a damaged MP4 video: it has no video stream"
    )


def test_a_truncated_mp4_names_the_box_that_does_not_fit(tmp_path: Path) -> None:
    video = media(Variant.VIDEO)
    kind, last = _boxes(video)[-1]
    start = len(video) - len(last)

    problem = media_problem(_file(tmp_path, video[:-100]), Variant.VIDEO)

    assert problem == (
        f"the video is a damaged MP4 video: the '{kind.decode()}' box at byte {start} "
        f"declares {len(last)} bytes but only {len(last) - 100} remain"
    )


def test_bytes_after_the_last_box_are_damage(tmp_path: Path) -> None:
    video = media(Variant.VIDEO)

    problem = media_problem(_file(tmp_path, video + b"abc"), Variant.VIDEO)

    assert problem == (
        f"the video is a damaged MP4 video: 3 stray bytes at the end (byte {len(video)}), "
        "too few for a box"
    )


def test_an_mp4_without_moov_or_not_starting_with_ftyp_is_damaged(tmp_path: Path) -> None:
    boxes = _boxes(media(Variant.VIDEO))
    without_moov = b"".join(box for kind, box in boxes if kind != b"moov")
    free_first = free_box_header(8) + media(Variant.VIDEO)

    assert media_problem(_file(tmp_path, without_moov), Variant.VIDEO) == (
        "the video is a damaged MP4 video: it has no 'moov' box"
    )
    assert media_problem(_file(tmp_path, free_first), Variant.VIDEO) == (
        "the video is a damaged MP4 video: it starts with a 'free' box, not 'ftyp'"
    )


def test_a_box_smaller_than_its_header_is_damage(tmp_path: Path) -> None:
    video = media(Variant.VIDEO)
    data = video + struct.pack(">I4s", 4, b"free") + bytes(4)

    problem = media_problem(_file(tmp_path, data), Variant.VIDEO)

    assert problem == (
        f"the video is a damaged MP4 video: the 'free' box at byte {len(video)} "
        "declares only 4 bytes"
    )


def test_a_webp_whose_riff_size_does_not_match_the_file_is_damaged(tmp_path: Path) -> None:
    webp = media(Variant.THUMBNAIL)

    cut = media_problem(_file(tmp_path, webp[:-10]), Variant.THUMBNAIL)
    longer = media_problem(_file(tmp_path, webp + bytes(10)), Variant.THUMBNAIL)

    assert cut == (
        f"the thumbnail is a damaged WebP image: its RIFF header declares {len(webp)} bytes "
        f"but the file has {len(webp) - 10}"
    )
    assert longer is not None
    assert "declares" in longer


def test_a_webp_pillow_cannot_decode_is_damaged(tmp_path: Path) -> None:
    webp = media(Variant.THUMBNAIL)
    garbage = webp[:20] + bytes(len(webp) - 20)  # headers kept, image data zeroed

    problem = media_problem(_file(tmp_path, garbage), Variant.THUMBNAIL)

    assert problem is not None
    assert problem.startswith("the thumbnail is a damaged WebP image: Pillow cannot open it")


def test_a_jpeg_cut_short_or_unreadable_is_damaged(tmp_path: Path) -> None:
    jpeg = media(Variant.SPRITESHEET)

    cut = media_problem(_file(tmp_path, jpeg[:-500]), Variant.SPRITESHEET)
    garbage = media_problem(
        _file(tmp_path, b"\xff\xd8\xff" + bytes(100) + b"\xff\xd9", "spritesheet.jpg.part"),
        Variant.SPRITESHEET,
    )

    assert cut == (
        "the spritesheet is a damaged JPEG image: it does not end with an EOI marker (FFD9); "
        "it may be cut short"
    )
    assert garbage is not None
    assert garbage.startswith("the spritesheet is a damaged JPEG image: Pillow cannot open it")
    assert str(tmp_path) not in garbage  # one line, the file's name at most


def test_an_image_too_large_for_pillow_is_refused_unread(tmp_path: Path) -> None:
    path = _file(tmp_path, b"\xff\xd8\xff\xe0")
    size = MAX_IMAGE_BYTES + 2
    with path.open("r+b") as handle:
        handle.truncate(size - 2)  # sparse
        handle.seek(size - 2)
        handle.write(b"\xff\xd9")

    assert media_problem(path, Variant.SPRITESHEET) == (
        f"the spritesheet is a damaged JPEG image: it is {size} bytes; "
        f"an image of more than {MAX_IMAGE_BYTES} bytes is refused"
    )


@pytest.mark.parametrize(
    ("head", "looks_like"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(8), "a PNG image"),
        (b"GIF89a", "a GIF image"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "an AVI video"),
        (b"\x1a\x45\xdf\xa3", "a WebM or Matroska video"),
        (b"<?xml version='1.0'?>", "an XML document"),
        (b"\x00\x00\x00\x08mdat", "an MP4 video"),
    ],
)
def test_describe_bytes(head: bytes, looks_like: str) -> None:
    assert describe_bytes(head) == looks_like


def test_the_simulators_large_asset_is_a_valid_mp4_served_consistently_by_range(
    tmp_path: Path,
) -> None:
    size = 300_000
    store = MediaStore(tmp_path / "media", fps=4, media_scale=0.05, large_asset_bytes=size)
    job = MediaJob(
        video_id="video_1", prompt="A long take", model="sora-2", seconds=1, size="720x1280", seed=3
    )
    rendered = store.paths(job)[Variant.VIDEO].stat().st_size
    whole = b"".join(store.chunks(job, Variant.VIDEO, 0, store.size(job, Variant.VIDEO)))

    assert len(whole) == size
    assert media_problem(_file(tmp_path, whole), Variant.VIDEO) is None
    for start, end in [(0, 10), (rendered - 3, rendered + 5), (rendered + 4, rendered + 70_000)]:
        assert b"".join(store.chunks(job, Variant.VIDEO, start, end)) == whole[start:end]


def test_a_free_box_beyond_4_gib_uses_a_64_bit_size() -> None:
    assert free_box_header(16) == struct.pack(">I4s", 16, b"free")
    assert free_box_header(5 * 1024**3) == struct.pack(">I4sQ", 1, b"free", 5 * 1024**3)


def test_a_large_asset_size_below_the_rendered_video_still_serves_a_valid_mp4(
    tmp_path: Path,
) -> None:
    store = MediaStore(tmp_path / "media", fps=4, media_scale=0.05, large_asset_bytes=100)
    job = MediaJob(
        video_id="video_1", prompt="Short", model="sora-2", seconds=1, size="720x1280", seed=3
    )
    rendered = store.paths(job)[Variant.VIDEO].stat().st_size
    size = store.size(job, Variant.VIDEO)
    whole = b"".join(store.chunks(job, Variant.VIDEO, 0, size))

    assert size == len(whole) == rendered + 8  # the video and an empty free box
    assert media_problem(_file(tmp_path, whole), Variant.VIDEO) is None
