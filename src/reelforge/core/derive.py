"""Thumbnails and spritesheets made from a downloaded video, for endpoints that cannot serve them.

A finished job offers three variants: the MP4, a WebP thumbnail and a JPEG spritesheet. Some
endpoints (gateways such as LiteLLM's proxy) only pass the video through: asked for a
``thumbnail`` or a ``spritesheet`` they answer with the MP4 again, or with a 4xx. reelforge then
makes those two files from the video it has downloaded, shaped like the ones a provider serves
(the simulator's :mod:`reelforge.sim.media` renders the same shapes), and ``job.json`` marks them
``derived``:

* :func:`derive_thumbnail`: the middle frame (frame ``count // 2``, as the simulator picks), as
  a WebP of the video's own dimensions (quality 80); a one-frame clip gives its only frame.
* :func:`derive_spritesheet`: up to 20 evenly spaced frames from the first on, each scaled to
  128 pixels wide (a narrower video keeps its width), 5 to a row, as a JPEG (quality 80).

Rotation metadata and non-square pixels are not applied (provider videos carry neither).

Memory stays bounded whatever the video's size: frames are reached by seeking to the keyframe
before each wanted time and decoding forward, a frame becomes an image only if it is used
(spritesheet tiles are shrunk at once), and the only other full-size frames held are the
decoder's own. Where seeks land after the time asked (MPEG-TS seeks by byte position) they are
retried further back; where they find nothing, the file is read once from the start, keeping
only the frames it needs. Damaged packets are skipped; a video whose frames stop before a frame
it needs (by its own duration) is reported as truncated.

The image is written to a temporary file beside ``dest``, fsynced and renamed over it, so a
crash never leaves half a file at ``dest`` (one writer per ``dest`` at a time: temporary files
a killed run left are removed). A file that is not a readable video (an image, a text file,
random bytes, an MP4 cut short, one without a decodable frame) raises
:class:`~reelforge.core.errors.DownloadError` with one line naming the file, and ``dest`` is not
touched. Decoding blocks: async callers run these functions in a worker thread (each call opens
the file itself, so calls may run side by side).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.codec.context import ThreadType
from av.container import InputContainer
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from reelforge.core.errors import DownloadError
from reelforge.core.files import sync_directory

__all__ = [
    "SPRITE_COLUMNS",
    "SPRITE_MAX_TILES",
    "SPRITE_TILE_WIDTH",
    "DerivedAsset",
    "derive_spritesheet",
    "derive_thumbnail",
]

SPRITE_TILE_WIDTH = 128
"""Width of a spritesheet tile in pixels (a narrower video keeps its own width)."""
SPRITE_COLUMNS = 5
"""Tiles per spritesheet row."""
SPRITE_MAX_TILES = 20
"""Most frames in a spritesheet (a shorter video gives one tile per frame)."""
_THUMBNAIL_QUALITY = 80
_SPRITESHEET_QUALITY = 80
_VIDEO_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mpegts"})
"""FFmpeg demuxers accepted as videos. FFmpeg also reads a JPEG, a PNG or a text file as a
one-stream "video" (``jpeg_pipe``, ``png_pipe``, ``tty``): those are not videos here."""
_INDEXED_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
"""Demuxers whose index lists keyframes where they are (an MP4's sample table, Matroska's
cues); MPEG-TS fills its index with guesses while it seeks."""
_SEEK_GAP = 2.0
"""In a file without an index, a frame at most this many seconds (or the farthest a seek has
landed before its target, if more) ahead of the last decoded one is reached by decoding on."""
_SEEK_TRIES = 6
"""Seeks towards one frame, each further back, before reading the file from the start."""
_FAR_AWAY = 2**62
"""A timestamp past the end of any video: a seek to it lands on the last keyframe."""
_DEFAULT_RATE = Fraction(25)
"""Frame rate assumed when a file states none (to space frames and estimate their count)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DerivedAsset:
    """An image reelforge made from a video and wrote to disk."""

    path: Path
    size: int
    """Bytes written."""
    sha256: str
    """SHA-256 hex of the bytes written."""
    width: int
    height: int
    frames: int
    """How many of the video's frames the image shows (1 for a thumbnail)."""


def derive_thumbnail(video: Path, dest: Path) -> DerivedAsset:
    """Write the frame at the middle of ``video`` to ``dest`` as a WebP of the video's size."""
    what = f"cannot make a thumbnail from {video}"
    with _Clip.open(video, what) as clip:
        [image] = clip.images_at([clip.duration / 2], _image)
    return _save(image, dest, what, frames=1, format="WEBP", quality=_THUMBNAIL_QUALITY)


def derive_spritesheet(video: Path, dest: Path) -> DerivedAsset:
    """Write a grid of evenly spaced frames of ``video`` to ``dest`` as a JPEG.

    Up to :data:`SPRITE_MAX_TILES` frames, from the first onwards, each scaled to
    :data:`SPRITE_TILE_WIDTH` pixels wide, :data:`SPRITE_COLUMNS` to a row.
    """
    what = f"cannot make a spritesheet from {video}"
    with _Clip.open(video, what) as clip:
        count = max(1, min(SPRITE_MAX_TILES, clip.frame_count))
        times = [clip.duration * index / count for index in range(count)]
        tiles = clip.images_at(times, _tile)
    width, height = tiles[0].size
    columns = min(SPRITE_COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (width * columns, height * rows), (0, 0, 0))
    for index, tile in enumerate(tiles):
        # A stream whose frame size changes midway gives tiles of other sizes.
        fitted = tile if tile.size == (width, height) else tile.resize((width, height))
        sheet.paste(fitted, ((index % columns) * width, (index // columns) * height))
    return _save(sheet, dest, what, frames=len(tiles), format="JPEG", quality=_SPRITESHEET_QUALITY)


def _image(frame: VideoFrame) -> Image.Image:
    """``frame`` as an RGB image of its own size."""
    image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]  # untyped in av's stubs
    return image


def _tile(frame: VideoFrame) -> Image.Image:
    """``frame`` as a spritesheet tile: :data:`SPRITE_TILE_WIDTH` wide, its aspect kept."""
    width = min(SPRITE_TILE_WIDTH, frame.width)
    height = max(1, frame.height * width // frame.width)
    return _image(frame).resize((width, height), Image.Resampling.BICUBIC, reducing_gap=2.0)


class _SeekFailed(Exception):
    """Seeking did not reach the asked frame: read the file from the start instead."""


class _Clip:
    """One open video stream, and how to pick its frames at given times."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self.container, self.stream = _open_video(path, what)
        rate = self.stream.average_rate or self.stream.guessed_rate or _DEFAULT_RATE
        self.frame_time = float(1 / rate)
        self.keyframe_gap = _SEEK_GAP
        """How far before its target a seek may land, in seconds (learnt as seeks land)."""
        self.seek_back = 0.0
        """How far before a frame to seek so as to land at or before it (learnt likewise)."""
        self.damage: str | None = None
        """Why reading stopped early, if it did (a read error ends the stream like its end)."""
        try:
            self.duration, self.frame_count = self._measure(rate)
        except BaseException:
            self.container.close()
            raise

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: Path, what: str) -> Iterator[_Clip]:
        clip = cls(path, what)
        try:
            yield clip
        finally:
            clip.container.close()

    def _measure(self, rate: Fraction) -> tuple[float, int]:
        """The video stream's duration in seconds and (about) how many frames it has."""
        stream = self.stream
        duration = 0.0
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        else:  # a container's duration may count from 0 or from its start: measure instead
            duration = self._measure_duration()
        frames = stream.frames or round(duration * rate)
        return duration, max(1, frames)

    def _measure_duration(self) -> float:
        """How long the stream lasts, from the times of its last packets (read, not decoded):
        those after a seek to its end, or every packet if that seek finds none. A second
        opening of the file is read, so this one's position is untouched."""
        end = self._end_of_packets(seek=True)
        if end is None:
            end = self._end_of_packets(seek=False)
        return 0.0 if end is None else max(0.0, end - self._start)

    def _end_of_packets(self, *, seek: bool) -> float | None:
        container, stream = _open_video(self.path, self.what)
        time_base = stream.time_base or Fraction(1, av.time_base)
        end: float | None = None
        try:
            if seek:
                container.seek(_FAR_AWAY, stream=stream, backward=True)
            for packet in container.demux(stream):
                if packet.pts is not None:
                    last = float((packet.pts + (packet.duration or 0)) * time_base)
                    end = last if end is None else max(end, last)
        except av.error.FFmpegError:
            pass  # what was read so far is what there is
        finally:
            container.close()
        return end

    @property
    def _start(self) -> float:
        stream = self.stream
        if stream.start_time is None or stream.time_base is None:
            return 0.0
        return float(stream.start_time * stream.time_base)

    @property
    def _tolerance(self) -> float:
        return self.frame_time / 2 + 1e-6

    def images_at(
        self, times: list[float], convert: Callable[[VideoFrame], Image.Image]
    ) -> list[Image.Image]:
        """``convert`` of the frame shown at each of ``times`` (seconds from the start, in
        increasing order): the first frame at or after it, within half a frame."""
        try:
            return self._by_seeking(times, convert)
        except _SeekFailed:
            pass
        self.container.close()
        self.container, self.stream = _open_video(self.path, self.what)
        self.damage = None
        return self._by_reading(times, convert)

    def _by_seeking(
        self, times: list[float], convert: Callable[[VideoFrame], Image.Image]
    ) -> list[Image.Image]:
        images: list[Image.Image] = []
        chosen: tuple[float, Image.Image] | None = None
        frames: Iterator[tuple[float, VideoFrame]] | None = None
        position = 0.0
        for wanted in times:
            earliest = wanted - self._tolerance
            if chosen is not None and chosen[0] >= earliest:
                images.append(chosen[1])
                continue
            if self._worth_seeking(wanted, position):
                frames = self._seek_before(wanted)
            elif frames is None:
                frames = self._frames()
            for time, frame in frames:
                position = time
                if time >= earliest:
                    chosen = (time, convert(frame))
                    break
            else:
                raise _SeekFailed  # ran out: a bad seek, or a truncated file (read to tell)
            images.append(chosen[1])
        return images

    def _worth_seeking(self, wanted: float, position: float) -> bool:
        """Whether a seek towards ``wanted`` lands past ``position`` (the last frame decoded),
        skipping frames that decoding on would go through. A seek lands on the keyframe at or
        before ``wanted``: an MP4's or a Matroska file's index says where, when it reaches that
        far; otherwise (an MPEG-TS index holds guesses) ``keyframe_gap``, the farthest a seek
        has landed before its target yet, tells."""
        entries = self.stream.index_entries
        time_base = self.stream.time_base
        indexed = self.container.format.name in _INDEXED_FORMATS
        if indexed and len(entries) > 1 and time_base is not None:
            target = int((wanted + self._start) / time_base)
            found = entries.search_timestamp(target)
            if found >= 0 and entries[len(entries) - 1].timestamp >= target:
                keyframe = float(entries[found].timestamp * time_base) - self._start
                return keyframe > position + self._tolerance
        return wanted - position > self.keyframe_gap

    def _seek_before(self, wanted: float) -> Iterator[tuple[float, VideoFrame]]:
        """Frames from a keyframe at or before ``wanted`` on. Some files' seeks land on the
        keyframe after the time asked (MPEG-TS): those seek again, further back each time."""
        back = self.seek_back
        for _ in range(_SEEK_TRIES):
            frames = self._frames_after_seek(max(0.0, wanted - back))
            first = next(frames, None)
            if first is None:
                raise _SeekFailed  # nothing there: a bad index, or a truncated file
            landed = first[0]
            if landed <= wanted + self._tolerance:
                self.seek_back = back
                self.keyframe_gap = max(self.keyframe_gap, wanted - landed)
                return itertools.chain([first], frames)
            if back >= wanted:
                break  # a seek to the very start landed late
            back = max(2 * back, _SEEK_GAP, landed - wanted)
        raise _SeekFailed

    def _frames_after_seek(self, time: float) -> Iterator[tuple[float, VideoFrame]]:
        assert self.stream.time_base is not None
        target = int((time + self._start) / self.stream.time_base)
        try:
            self.container.seek(target, stream=self.stream, backward=True)
        except av.error.FFmpegError as exc:
            raise _SeekFailed from exc
        return self._frames(timed=True)

    def _by_reading(
        self, times: list[float], convert: Callable[[VideoFrame], Image.Image]
    ) -> list[Image.Image]:
        images: list[Image.Image] = []
        pending = iter(times)
        wanted = next(pending, None)
        last = -1.0
        for time, frame in self._frames():
            last = time
            if wanted is None or time < wanted - self._tolerance:
                continue
            image = convert(frame)
            while wanted is not None and time >= wanted - self._tolerance:
                images.append(image)
                wanted = next(pending, None)
            if wanted is None:
                return images
        if last < 0:
            raise DownloadError(f"{self.what}: {self._no_frames()}")
        damage = f" ({self.damage})" if self.damage else ""
        raise DownloadError(
            f"{self.what}: its frames stop at {last:.2f}s of the {self.duration:.2f}s "
            f"it says it lasts: truncated or damaged{damage}"
        )

    def _frames(self, *, timed: bool = False) -> Iterator[tuple[float, VideoFrame]]:
        """Decoded frames and their times (seconds from the stream's start), one at a time.

        Packets that do not decode are skipped; a read error ends the stream like its end
        (``damage`` says why). With ``timed``, a frame without a timestamp fails the seek (its
        place is unknown); otherwise it is placed one frame after the previous one.
        """
        time = -self.frame_time
        for packet in self._packets():
            try:
                decoded = self.stream.decode(packet)
            except av.error.FFmpegError:
                continue  # a damaged packet: the decoder resumes at a later one
            for frame in decoded:
                if frame.pts is not None and frame.time_base is not None:
                    time = float(frame.pts * frame.time_base) - self._start
                elif timed:
                    raise _SeekFailed
                else:
                    time += self.frame_time
                yield time, frame

    def _packets(self) -> Iterator[av.Packet[VideoStream] | None]:
        try:
            yield from self.container.demux(self.stream)
        except av.error.FFmpegError as exc:
            self.damage = _reason(exc)
            yield None  # drain the decoder: frames it still holds are good

    def _no_frames(self) -> str:
        damage = f" ({self.damage})" if self.damage else ""
        return f"no frame of it can be decoded{damage}"


def _open_video(path: Path, what: str) -> tuple[InputContainer, VideoStream]:
    """``path`` opened, and its video stream (threaded decoding)."""
    try:
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except (av.error.FFmpegError, OSError) as exc:
        reason = _reason(exc)
        if isinstance(exc, av.error.InvalidDataError):
            reason = "not a readable video (truncated, or not a video at all)"
        raise DownloadError(f"{what}: {reason}") from exc
    if container.format.name not in _VIDEO_FORMATS:
        kind = container.format.long_name or container.format.name
        container.close()
        raise DownloadError(f"{what}: not a video (FFmpeg reads it as {kind})")
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:  # cover art is not the video
            stream.thread_type = ThreadType.AUTO
            return container, stream
    container.close()
    raise DownloadError(f"{what}: the file has no video stream")


def _reason(exc: BaseException) -> str:
    """The OS's or FFmpeg's words for ``exc``, one line, without the file name."""
    text = getattr(exc, "strerror", None) or type(exc).__name__
    text = " ".join(str(text).split())
    return text[:1].lower() + text[1:]


def _save(
    image: Image.Image, dest: Path, what: str, *, frames: int, format: str, quality: int
) -> DerivedAsset:
    """Encode ``image`` and write it to ``dest`` atomically."""
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=format, quality=quality)
    except (OSError, ValueError) as exc:
        raise DownloadError(f"{what}: cannot encode a {format} of {image.size}: {exc}") from exc
    data = buffer.getvalue()
    _write_atomically(dest, data, what)
    return DerivedAsset(
        path=dest,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=image.width,
        height=image.height,
        frames=frames,
    )


def _write_atomically(dest: Path, data: bytes, what: str) -> None:
    """``data`` at ``dest`` via a temporary file beside it, fsync and rename; temporary files a
    killed earlier run left there are removed first."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        for stale in dest.parent.glob(f".{glob.escape(dest.name)}.*.tmp"):
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        raise DownloadError(f"{what}: cannot save {dest}: {_reason(exc)}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DownloadError(f"{what}: cannot save {dest}: {_reason(exc)}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_directory(dest.parent)
