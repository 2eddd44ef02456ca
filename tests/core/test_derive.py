"""Thumbnails and spritesheets made from a downloaded video: real MP4s in, real WebP/JPEG out."""

from __future__ import annotations

import hashlib
import random
import struct
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import pytest
from PIL import Image

from reelforge.core.derive import (
    SPRITE_COLUMNS,
    SPRITE_TILE_WIDTH,
    DerivedAsset,
    derive_spritesheet,
    derive_thumbnail,
)
from reelforge.core.errors import DownloadError
from reelforge.core.models import Variant
from reelforge.providers._media import media_problem
from reelforge.sim.media import MediaJob, render_media

_FPS = 5
_FRAMES = 300
"""The numbered videos: 60 s at 5 fps, a keyframe every 2 s (spritesheet frames are 3 s apart)."""
_SIZE = (64, 48)


def _colour(index: int) -> tuple[int, int, int]:
    """Frame ``index``'s flat colour: its number in steps H.264 and JPEG cannot blur."""
    return (index % 16) * 16 + 8, (index // 16 % 16) * 16 + 8, (index // 256) * 16 + 8


def _number(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> int:
    """Which frame ``image`` (or its ``box``) shows, read back from its colour."""
    region = image.convert("RGB") if box is None else image.convert("RGB").crop(box)
    pixel = region.getpixel((region.width // 2, region.height // 2))
    red, green, blue = (round((level - 8) / 16) for level in pixel)
    return red + 16 * green + 256 * blue


def _shown(sheet_path: Path, tiles: int) -> list[int]:
    """Which frame each of the first ``tiles`` tiles of a spritesheet of numbered frames shows."""
    width, height = _SIZE  # narrower than a tile: kept as it is
    with Image.open(sheet_path) as sheet:
        return [
            _number(sheet, (x * width, y * height, (x + 1) * width, (y + 1) * height))
            for x, y in ((i % SPRITE_COLUMNS, i // SPRITE_COLUMNS) for i in range(tiles))
        ]


class _Layout(NamedTuple):
    """How a numbered video is stored."""

    format: str
    options: dict[str, str] | None = None
    """The muxer's options."""
    start: int = 0
    """The first frame's time, in seconds."""
    keyint: str = str(2 * _FPS)
    """Frames from one keyframe to the next."""


def _write_video(path: Path, frames: int, layout: _Layout | None = None) -> Path:
    """An H.264 video of ``frames`` flat frames, frame ``i`` coloured :func:`_colour` ``(i)``."""
    layout = layout or _Layout("mp4")
    with av.open(str(path), mode="w", format=layout.format, options=layout.options or {}) as out:
        stream = out.add_stream("libx264", rate=_FPS)
        stream.width, stream.height = _SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {
            "preset": "ultrafast",
            "x264-params": f"keyint={layout.keyint}:scenecut=0",
        }
        for index in range(frames):
            frame = av.VideoFrame.from_image(Image.new("RGB", _SIZE, _colour(index)))
            frame.pts = layout.start * _FPS + index
            frame.time_base = Fraction(1, _FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


_LAYOUTS = {
    "mp4": _Layout("mp4"),  # its index says where each keyframe is: seeks to the one before
    "faststart-mp4": _Layout("mp4", {"movflags": "+faststart"}),
    "fragmented-mp4": _Layout("mp4", {"movflags": "frag_keyframe+empty_moov"}),
    "mp4-from-7s": _Layout("mp4", start=7),
    "matroska": _Layout("matroska"),  # no stream duration; its index is read at the first seek
    "matroska-from-7s": _Layout("matroska", start=7),  # its container duration counts from 0
    "mpegts": _Layout("mpegts"),  # seeks land on the next keyframe: seeks again, further back
    "mpegts-from-7s": _Layout("mpegts", start=7),
    "mpegts-one-keyframe": _Layout("mpegts", keyint="infinite"),  # seeks find nothing: reads
}


@pytest.fixture(scope="module")
def numbered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same numbered 300-frame video in each layout of :data:`_LAYOUTS`."""
    folder = tmp_path_factory.mktemp("numbered")
    return {name: _write_video(folder / name, _FRAMES, layout) for name, layout in _LAYOUTS.items()}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[Variant, Path]:
    """What the simulator serves for a 4 s portrait job: video, thumbnail, spritesheet."""
    job = MediaJob(
        video_id="video_derive",
        prompt="A lighthouse at dusk, waves rolling in",
        model="sora-2",
        seconds=4,
        size="720x1280",
        seed=7,
    )
    return render_media(job, tmp_path_factory.mktemp("sim"), fps=6, media_scale=0.25)


def _assert_describes(asset: DerivedAsset, dest: Path) -> None:
    data = dest.read_bytes()
    assert asset.path == dest
    assert asset.size == len(data)
    assert asset.sha256 == hashlib.sha256(data).hexdigest()
    with Image.open(dest) as image:
        assert image.size == (asset.width, asset.height)


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_thumbnail_is_a_webp_shaped_like_the_one_the_provider_serves(
    simulated: dict[Variant, Path], tmp_path: Path
) -> None:
    dest = tmp_path / Variant.THUMBNAIL.filename
    asset = derive_thumbnail(simulated[Variant.VIDEO], dest)
    _assert_describes(asset, dest)
    assert asset.frames == 1
    with Image.open(dest) as derived, Image.open(simulated[Variant.THUMBNAIL]) as served:
        assert derived.format == served.format == "WEBP"
        assert derived.size == served.size == (180, 320)
    assert media_problem(dest, Variant.THUMBNAIL) is None  # passes the download's own check
    assert _leftovers(tmp_path) == [Variant.THUMBNAIL.filename]


def test_spritesheet_is_a_jpeg_grid_laid_out_like_the_one_the_provider_serves(
    simulated: dict[Variant, Path], tmp_path: Path
) -> None:
    dest = tmp_path / Variant.SPRITESHEET.filename
    asset = derive_spritesheet(simulated[Variant.VIDEO], dest)
    _assert_describes(asset, dest)
    assert asset.frames == 20  # 24 frames: 20 tiles, 5 to a row
    tile_width, tile_height = SPRITE_TILE_WIDTH, SPRITE_TILE_WIDTH * 320 // 180
    with Image.open(dest) as derived, Image.open(simulated[Variant.SPRITESHEET]) as served:
        assert derived.format == served.format == "JPEG"
        assert derived.size == served.size == (5 * tile_width, 4 * tile_height)
        tiles = [
            derived.crop(
                (x * tile_width, y * tile_height, (x + 1) * tile_width, (y + 1) * tile_height)
            )
            for y in range(4)
            for x in range(5)
        ]
    assert len({tile.tobytes() for tile in tiles}) == 20  # the bar moves: every tile differs
    assert media_problem(dest, Variant.SPRITESHEET) is None
    assert _leftovers(tmp_path) == [Variant.SPRITESHEET.filename]


@pytest.mark.parametrize("layout", list(_LAYOUTS))
def test_thumbnail_is_the_middle_frame(
    numbered: dict[str, Path], layout: str, tmp_path: Path
) -> None:
    dest = tmp_path / "thumbnail.webp"
    asset = derive_thumbnail(numbered[layout], dest)
    assert (asset.width, asset.height) == _SIZE
    with Image.open(dest) as image:
        assert _number(image) == _FRAMES // 2


@pytest.mark.parametrize("layout", list(_LAYOUTS))
def test_spritesheet_tiles_are_evenly_spaced_frames_from_the_first(
    numbered: dict[str, Path], layout: str, tmp_path: Path
) -> None:
    asset = derive_spritesheet(numbered[layout], tmp_path / "spritesheet.jpg")
    width, height = _SIZE  # narrower than a tile: kept as it is
    assert (asset.width, asset.height, asset.frames) == (5 * width, 4 * height, 20)
    assert _shown(asset.path, 20) == [index * _FRAMES // 20 for index in range(20)]


@pytest.mark.parametrize("frames", [1, 2])
def test_a_clip_of_a_frame_or_two_still_gives_both_images(tmp_path: Path, frames: int) -> None:
    video = _write_video(tmp_path / "short.mp4", frames)
    thumbnail = derive_thumbnail(video, tmp_path / "thumbnail.webp")
    sheet = derive_spritesheet(video, tmp_path / "spritesheet.jpg")
    assert (thumbnail.width, thumbnail.height) == _SIZE
    with Image.open(thumbnail.path) as image:
        assert image.format == "WEBP"
        assert _number(image) == frames // 2
    assert (sheet.width, sheet.height, sheet.frames) == (frames * _SIZE[0], _SIZE[1], frames)
    with Image.open(sheet.path) as image:
        assert image.format == "JPEG"
    assert _shown(sheet.path, frames) == list(range(frames))


def test_deriving_again_replaces_the_file_with_the_same_image(
    numbered: dict[str, Path], tmp_path: Path
) -> None:
    for derive, name in ((derive_thumbnail, "t.webp"), (derive_spritesheet, "s.jpg")):
        first = derive(numbered["mp4"], tmp_path / name)
        second = derive(numbered["mp4"], tmp_path / name)
        assert second == first
    assert _leftovers(tmp_path) == ["s.jpg", "t.webp"]


def test_a_temporary_file_left_by_a_killed_run_is_cleared(
    numbered: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / ".thumbnail.webp.k1ll3d.tmp").write_bytes(b"half a webp")
    derive_thumbnail(numbered["mp4"], tmp_path / "thumbnail.webp")
    assert _leftovers(tmp_path) == ["thumbnail.webp"]


def _not_videos(folder: Path, simulated: dict[Variant, Path]) -> dict[str, tuple[Path, str]]:
    """Files that are no video, each with the words its error must contain."""
    jpeg = folder / "photo.mp4"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(jpeg, format="JPEG")
    png = folder / "image.mp4"
    Image.new("RGB", (64, 48), (30, 200, 30)).save(png, format="PNG")
    noise = folder / "noise.mp4"
    noise.write_bytes(random.Random(1).randbytes(50_000))
    text = folder / "error.mp4"
    text.write_text('{"error": {"message": "thumbnail not supported"}}\n' * 20)
    empty = folder / "empty.mp4"
    empty.touch()
    video = simulated[Variant.VIDEO].read_bytes()
    truncated = folder / "truncated.mp4"  # the index (moov) comes last: it is cut off
    truncated.write_bytes(video[: len(video) // 2])
    return {
        "jpeg": (jpeg, "not a video"),
        "png": (png, "not a video"),
        "webp": (simulated[Variant.THUMBNAIL], "not a video"),
        "random bytes": (noise, "not a readable video"),
        "json error body": (text, "not a video"),
        "empty": (empty, "not a readable video"),
        "truncated mp4": (truncated, "not a readable video"),
        "missing": (folder / "missing.mp4", "no such file"),
        "folder": (folder, "is a directory"),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "jpeg",
        "png",
        "webp",
        "random bytes",
        "json error body",
        "empty",
        "truncated mp4",
        "missing",
        "folder",
    ],
)
def test_a_file_that_is_not_a_video_is_a_download_error_and_writes_nothing(
    simulated: dict[Variant, Path], tmp_path: Path, kind: str
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    video, words = _not_videos(inputs, simulated)[kind]
    out = tmp_path / "out"
    out.mkdir()
    for derive, name in ((derive_thumbnail, "thumbnail.webp"), (derive_spritesheet, "s.jpg")):
        with pytest.raises(DownloadError) as caught:
            derive(video, out / name)
        message = str(caught.value)
        assert str(video) in message
        assert words in message
        assert "\n" not in message
    assert _leftovers(out) == []


def test_an_mp4_cut_short_after_its_index_is_a_download_error(
    numbered: dict[str, Path], tmp_path: Path
) -> None:
    data = numbered["faststart-mp4"].read_bytes()  # index first: the cut file still opens
    video = tmp_path / "cut.mp4"
    video.write_bytes(data[: len(data) // 3])
    for derive, name in ((derive_thumbnail, "thumbnail.webp"), (derive_spritesheet, "s.jpg")):
        with pytest.raises(DownloadError, match=r"cut\.mp4: its frames stop at .*truncated"):
            derive(video, tmp_path / name)
    assert _leftovers(tmp_path) == ["cut.mp4"]


def test_an_mp4_whose_frames_do_not_decode_is_a_download_error(tmp_path: Path) -> None:
    data = bytearray(_write_video(tmp_path / "one.mp4", 1).read_bytes())
    at = data.index(b"mdat") - 4
    (size,) = struct.unpack(">I", data[at : at + 4])
    data[at + 8 : at + size] = bytes(size - 8)  # the frame's bytes zeroed
    video = tmp_path / "zeroed.mp4"
    video.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match=r"zeroed\.mp4: no frame of it can be decoded"):
        derive_thumbnail(video, tmp_path / "thumbnail.webp")
    assert not (tmp_path / "thumbnail.webp").exists()


def test_a_file_with_sound_only_is_a_download_error(tmp_path: Path) -> None:
    video = tmp_path / "sound.mp4"
    with av.open(str(video), mode="w", format="mp4") as output:
        stream = output.add_stream("aac", rate=8000)
        stream.layout = "mono"
        for index in range(4):
            frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            frame.planes[0].update(bytes(4096))
            frame.sample_rate = 8000
            frame.pts = index * 1024
            frame.time_base = Fraction(1, 8000)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    with pytest.raises(DownloadError, match=r"sound\.mp4: the file has no video stream"):
        derive_spritesheet(video, tmp_path / "s.jpg")


def test_a_destination_that_cannot_be_written_is_a_download_error(
    numbered: dict[str, Path], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DownloadError, match=r"cannot save .*file/thumbnail\.webp"):
        derive_thumbnail(numbered["mp4"], blocker / "thumbnail.webp")
    assert _leftovers(tmp_path) == ["file"]


def test_damaged_frames_are_skipped_and_the_rest_still_used(
    numbered: dict[str, Path], tmp_path: Path
) -> None:
    source = numbered["mp4"]
    damaged = range(101, 109)  # frames inside one group of pictures (keyframes at 100, 110)
    data = bytearray(source.read_bytes())
    with av.open(str(source)) as container:
        for packet in container.demux(video=0):
            if packet.pts is None or packet.time_base is None:
                continue  # the demuxer's closing empty packet
            if round(packet.pts * packet.time_base * _FPS) in damaged:
                start, size = packet.pos, packet.size
                data[start : start + size] = random.Random(start).randbytes(size)
    video = tmp_path / "damaged.mp4"
    video.write_bytes(bytes(data))
    asset = derive_spritesheet(video, tmp_path / "spritesheet.jpg")
    assert asset.frames == 20
    expected = [index * _FRAMES // 20 for index in range(20)]  # 105 is among them
    shown = dict(zip(expected, _shown(asset.path, 20), strict=True))
    assert {e: n for e, n in shown.items() if not 100 <= e < 110} == {
        e: e for e in expected if not 100 <= e < 110
    }
