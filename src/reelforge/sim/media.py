"""Real, deterministic media for finished jobs: an H.264 MP4, a WebP thumbnail, a JPEG spritesheet.

Frames show the prompt (drawn with Pillow) plus a moving bar and a frame counter, so every frame
differs. Rendering uses a reduced resolution (``media_scale``), a low frame rate and x264's
``ultrafast`` preset; files are rendered on first use, kept on disk and evicted LRU, so memory
stays bounded whatever the asset size. The same seed and the same job always give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import textwrap
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont

from reelforge.core.models import Variant

__all__ = [
    "MediaJob",
    "MediaStore",
    "free_box_header",
    "probe_video",
    "render_media",
    "render_size",
    "synthetic_chunks",
]

CHUNK = 64 * 1024
_SPRITE_TILE_WIDTH = 128
_SPRITE_COLUMNS = 5
_SPRITE_MAX_TILES = 20


@dataclass(frozen=True, kw_only=True, slots=True)
class MediaJob:
    """What a job's media depends on: nothing else changes a byte."""

    video_id: str
    prompt: str
    model: str
    seconds: int
    size: str
    seed: int


def render_size(size: str, media_scale: float) -> tuple[int, int]:
    """Encoded width and height: ``size`` scaled, even (as H.264 wants), at least 32 pixels."""
    width, height = (int(part) for part in size.lower().split("x"))

    def scaled(value: int) -> int:
        return max(32, round(value * media_scale / 2) * 2)

    return scaled(width), scaled(height)


def _palette(job: MediaJob) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    rng = random.Random(f"{job.seed}:{job.video_id}:palette")
    background = (rng.randint(10, 70), rng.randint(10, 70), rng.randint(30, 90))
    accent = (rng.randint(160, 255), rng.randint(120, 255), rng.randint(40, 200))
    return background, accent


def _base_frame(job: MediaJob, width: int, height: int) -> Image.Image:
    background, _ = _palette(job)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    font_size = max(8, width // 18)
    font = ImageFont.load_default(size=font_size)
    header = f"{job.model}  {job.size}  {job.seconds}s"
    draw.text(
        (4, 4), header, fill=(200, 200, 200), font=ImageFont.load_default(size=max(7, width // 24))
    )
    chars = max(8, int(width / (font_size * 0.55)))
    lines = textwrap.wrap(job.prompt, width=chars)
    max_lines = max(1, (height - 5 * font_size) // (font_size + 2))
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1][: chars - 1] + "…"]
    y = 3 * font_size
    for line in lines:
        draw.text((4, y), line, fill=(240, 240, 240), font=font)
        y += font_size + 2
    return image


def _frame(base: Image.Image, job: MediaJob, index: int, count: int, fps: int) -> Image.Image:
    _, accent = _palette(job)
    image = base.copy()
    draw = ImageDraw.Draw(image)
    width, height = image.size
    bar = max(4, width // 10)
    x = int((width - bar) * index / max(count - 1, 1))
    draw.rectangle((x, height - 3 * bar // 2, x + bar, height - bar // 2), fill=accent)
    label = f"{index / fps:5.2f}s  #{index + 1}/{count}"
    font = ImageFont.load_default(size=max(7, width // 24))
    draw.text((width - 4 - draw.textlength(label, font=font), 4), label, fill=accent, font=font)
    return image


def render_media(job: MediaJob, dest: Path, *, fps: int, media_scale: float) -> dict[Variant, Path]:
    """Render all three variants of ``job`` into ``dest``; return their paths."""
    dest.mkdir(parents=True, exist_ok=True)
    width, height = render_size(job.size, media_scale)
    base = _base_frame(job, width, height)
    count = job.seconds * fps
    video_path = dest / Variant.VIDEO.filename
    partial = video_path.with_suffix(".part")
    sprite_every = max(1, count // _SPRITE_MAX_TILES)
    tiles: list[Image.Image] = []
    thumbnail: Image.Image | None = None
    with av.open(str(partial), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"preset": "ultrafast", "crf": "30"}
        for index in range(count):
            image = _frame(base, job, index, count, fps)
            if index == count // 2:
                thumbnail = image
            if index % sprite_every == 0 and len(tiles) < _SPRITE_MAX_TILES:
                tiles.append(image)
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    partial.replace(video_path)
    assert thumbnail is not None
    thumb_path = dest / Variant.THUMBNAIL.filename
    thumbnail.save(thumb_path, format="WEBP", quality=80, method=0)
    sprite_path = dest / Variant.SPRITESHEET.filename
    _spritesheet(tiles).save(sprite_path, format="JPEG", quality=80)
    return {
        Variant.VIDEO: video_path,
        Variant.THUMBNAIL: thumb_path,
        Variant.SPRITESHEET: sprite_path,
    }


def _spritesheet(tiles: list[Image.Image]) -> Image.Image:
    width, height = tiles[0].size
    tile_w = min(_SPRITE_TILE_WIDTH, width)
    tile_h = max(1, height * tile_w // width)
    columns = min(_SPRITE_COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (tile_w * columns, tile_h * rows), (0, 0, 0))
    for i, tile in enumerate(tiles):
        sheet.paste(
            tile.resize((tile_w, tile_h)), ((i % columns) * tile_w, (i // columns) * tile_h)
        )
    return sheet


def probe_video(data: bytes) -> tuple[float, int, int] | None:
    """Duration (seconds), width and height of an uploaded video, or ``None`` if unreadable."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            duration = container.duration / 1_000_000 if container.duration else 0.0
            return duration, stream.codec_context.width, stream.codec_context.height
    except (av.error.FFmpegError, ValueError):
        return None


def synthetic_chunks(
    key: str, total: int, start: int = 0, end: int | None = None
) -> Iterator[bytes]:
    """Bytes ``start``..``end`` (exclusive) of a ``total``-byte pseudo-random asset named ``key``.

    The asset is made of 64 KiB chunks each seeded from ``key`` and its index, so any range can
    be produced without generating what precedes it, and nothing large is held in memory.
    """
    stop = total if end is None else min(end, total)
    position = start
    while position < stop:
        index = position // CHUNK
        chunk = random.Random(f"{key}:{index}").randbytes(CHUNK)
        offset = position - index * CHUNK
        piece = chunk[offset : min(CHUNK, stop - index * CHUNK)]
        yield piece
        position += len(piece)


def free_box_header(box_size: int) -> bytes:
    """The header of an ISO BMFF ``free`` box of ``box_size`` bytes, header included.

    An MP4 followed by such a box (its payload anything) is still a valid MP4: players skip it.
    Sizes beyond 32 bits use the 16-byte form (size 1, then a 64-bit size).
    """
    if box_size <= 0xFFFFFFFF:
        if box_size < 8:
            raise ValueError("a free box has at least its 8-byte header")
        return struct.pack(">I4s", box_size, b"free")
    return struct.pack(">I4sQ", 1, b"free", box_size)


def _file_chunks(path: Path, start: int, end: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = end - start
        while remaining > 0:
            data = handle.read(min(CHUNK, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data


class MediaStore:
    """Renders media on first use, keeps it on disk (LRU over jobs) and serves ranges of it.

    With ``large_asset_bytes`` the video is served as that many bytes: the rendered MP4, then a
    ``free`` box of deterministic pseudo-random bytes (so it is still a valid MP4), produced
    range by range without holding it in memory. An MP4 already larger is served as rendered,
    plus an empty ``free`` box.
    """

    def __init__(
        self,
        root: Path,
        *,
        fps: int,
        media_scale: float,
        large_asset_bytes: int | None = None,
        max_jobs: int = 256,
    ) -> None:
        self.root = root
        self.fps = fps
        self.media_scale = media_scale
        self.large_asset_bytes = large_asset_bytes
        self.max_jobs = max_jobs
        self._lock = threading.Lock()
        self._job_locks: dict[str, threading.Lock] = {}
        self._rendered: OrderedDict[str, dict[Variant, Path]] = OrderedDict()
        self._sha: dict[tuple[str, Variant], str] = {}

    def _padded(self, job: MediaJob, variant: Variant) -> bool:
        return variant is Variant.VIDEO and self.large_asset_bytes is not None

    def _synthetic_key(self, job: MediaJob) -> str:
        return f"{job.seed}:{job.video_id}:large"

    def paths(self, job: MediaJob) -> dict[Variant, Path]:
        """The rendered files of ``job``, rendering them first if needed (thread-safe)."""
        with self._lock:
            cached = self._rendered.get(job.video_id)
            if cached is not None and all(p.exists() for p in cached.values()):
                self._rendered.move_to_end(job.video_id)
                return cached
            job_lock = self._job_locks.setdefault(job.video_id, threading.Lock())
        with job_lock:
            with self._lock:
                cached = self._rendered.get(job.video_id)
            if cached is None or not all(p.exists() for p in cached.values()):
                cached = render_media(
                    job, self.root / job.video_id, fps=self.fps, media_scale=self.media_scale
                )
            with self._lock:
                self._rendered[job.video_id] = cached
                self._rendered.move_to_end(job.video_id)
                self._evict()
            return cached

    def _evict(self) -> None:
        while len(self._rendered) > self.max_jobs:
            video_id, files = self._rendered.popitem(last=False)
            self._job_locks.pop(video_id, None)
            for path in files.values():
                path.unlink(missing_ok=True)

    def size(self, job: MediaJob, variant: Variant) -> int:
        """The byte length of an asset."""
        rendered = self.paths(job)[variant].stat().st_size
        if self._padded(job, variant):
            assert self.large_asset_bytes is not None
            return max(self.large_asset_bytes, rendered + len(free_box_header(8)))
        return rendered

    def chunks(self, job: MediaJob, variant: Variant, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start``..``end`` (exclusive) of an asset, in chunks of at most 64 KiB."""
        path = self.paths(job)[variant]
        if not self._padded(job, variant):
            yield from _file_chunks(path, start, end)
            return
        rendered = path.stat().st_size
        total = self.size(job, variant)
        header = free_box_header(total - rendered)
        payload = rendered + len(header)  # where the pseudo-random bytes start
        end = min(end, total)
        if start < rendered:
            yield from _file_chunks(path, start, min(end, rendered))
        if start < payload and end > rendered:
            yield header[max(start, rendered) - rendered : min(end, payload) - rendered]
        if end > payload:
            yield from synthetic_chunks(
                self._synthetic_key(job),
                total - payload,
                max(start, payload) - payload,
                end - payload,
            )

    def sha256(self, job: MediaJob, variant: Variant) -> str:
        """SHA-256 hex of the bytes served for an asset (streamed, never all in memory)."""
        key = (job.video_id, variant)
        with self._lock:
            known = self._sha.get(key)
        if known is not None:
            return known
        digest = hashlib.sha256()
        for piece in self.chunks(job, variant, 0, self.size(job, variant)):
            digest.update(piece)
        value = digest.hexdigest()
        with self._lock:
            self._sha[key] = value
        return value
