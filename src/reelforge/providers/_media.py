"""Whether a downloaded file is the media its variant promises, checked before it is kept.

Each check reads headers and box or chunk boundaries with seeks, never the whole file, so memory
stays constant whatever the file's size:

* ``video``: an MP4 (ISO BMFF). The top-level boxes tile the file exactly (each box's size fits
  in what is left), ``ftyp`` comes first, ``moov`` and ``mdat`` are present; then PyAV opens it
  and decodes a video frame.
* ``thumbnail``: a WebP. A RIFF header whose size field matches the file, form type ``WEBP``,
  chunks that tile the rest; then Pillow opens it as WEBP.
* ``spritesheet``: a JPEG. SOI (``FFD8``) first, EOI (``FFD9``) last; then Pillow opens it as JPEG.

The ``Content-Type`` the server declared must be the variant's (or say nothing: absent or
``application/octet-stream``). A file that is another kind of media than the variant (the MP4
a gateway serves in place of the thumbnail) is a :class:`MediaProblem` with ``found`` set to
what it is, so the caller can tell "not this asset" from "a damaged asset".

Pillow's WebP reader reads the whole file, so an image above :data:`MAX_IMAGE_BYTES` is refused
rather than handed to it. :func:`check_media` and :func:`media_problem` do blocking I/O, so
callers run them in a worker thread.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import av.error
from PIL import Image

from reelforge.core.models import Variant
from reelforge.providers._redact import clean_text

__all__ = ["MAX_IMAGE_BYTES", "MediaProblem", "check_media", "describe_bytes", "media_problem"]

MAX_IMAGE_BYTES = 128 * 1024 * 1024
"""Largest thumbnail or spritesheet accepted (Pillow reads a WebP whole to open it)."""
_MAX_BOXES = 100_000
"""Most top-level boxes walked in an MP4 (a fragmented MP4 has two per fragment)."""
_MAX_CHUNKS = 10_000
"""Most RIFF chunks walked in a WebP (a real one has a handful, an animation one per frame)."""
_SNIFF_BYTES = 64
_MAX_PACKETS = 512
"""Most video packets read looking for one that decodes to a frame."""

_EXPECTED = {
    Variant.VIDEO: "an MP4 video",
    Variant.THUMBNAIL: "a WebP image",
    Variant.SPRITESHEET: "a JPEG image",
}
_ISO_BOXES = frozenset({b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin"})
_MEDIA_TYPES = {
    "an MP4 video": "video/mp4",
    "a WebP image": "image/webp",
    "a JPEG image": "image/jpeg",
    "a PNG image": "image/png",
    "a GIF image": "image/gif",
    "a WebM or Matroska video": "video/webm",
    "an AVI video": "video/x-msvideo",
    "a WAV sound": "audio/wav",
    "an MP3 sound": "audio/mpeg",
}
"""What :func:`describe_bytes` recognises as media, by its media type."""
_ACCEPTED_TYPES = {
    Variant.VIDEO: frozenset({"video/mp4", "application/mp4"}),
    Variant.THUMBNAIL: frozenset({"image/webp"}),
    Variant.SPRITESHEET: frozenset({"image/jpeg", "image/jpg", "image/pjpeg"}),
}
_UNDECLARED_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
"""Content types that claim nothing: the bytes alone decide."""
_MEDIA_PREFIXES = ("video/", "image/", "audio/")
_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError, IndexError)
_PILLOW_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,  # raised, not warned, where warnings are errors
)


@dataclass(frozen=True, slots=True)
class MediaProblem:
    """What is wrong with a downloaded file, in one line."""

    text: str
    found: str | None = None
    """The media type of what arrived when it is another kind of media than the variant
    (``"video/mp4"`` for the thumbnail): not a damaged asset, a different one."""


def check_media(
    path: Path, variant: Variant, content_type: str | None = None
) -> MediaProblem | None:
    """What is wrong with ``path`` as the ``variant`` asset served as ``content_type``;
    ``None`` if nothing."""
    variant = Variant(variant)
    expected = _EXPECTED[variant]
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(0)
        head = handle.read(_SNIFF_BYTES)
        looks_like = describe_bytes(head)
        if looks_like != expected:
            seen = "the file is empty" if not head else f"the bytes look like {looks_like}"
            text = f"the {variant.value} is not {expected} ({seen})"
            return MediaProblem(text, found=_MEDIA_TYPES.get(looks_like))
        if variant is Variant.VIDEO:
            damage = _mp4_damage(handle, size)
        elif variant is Variant.THUMBNAIL:
            damage = _webp_damage(handle, size)
        else:
            damage = _jpeg_damage(handle, size)
    if damage is None:
        if variant is Variant.VIDEO:
            damage = _decode_damage(path)
        else:
            damage = _image_damage(path, size, "WEBP" if variant is Variant.THUMBNAIL else "JPEG")
    if damage is not None:
        kind = expected.split(" ", 1)[1]
        return MediaProblem(f"the {variant.value} is a damaged {kind}: {damage}")
    return _type_problem(variant, content_type)


def media_problem(path: Path, variant: Variant) -> str | None:
    """What is wrong with ``path`` as the ``variant`` asset, in one line; ``None`` if nothing
    (the bytes only: see :func:`check_media` for the declared content type too)."""
    problem = check_media(path, variant)
    return None if problem is None else problem.text


def _type_problem(variant: Variant, content_type: str | None) -> MediaProblem | None:
    """Whether the declared ``content_type`` (parameters ignored) fits ``variant``."""
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if declared in _UNDECLARED_TYPES or declared in _ACCEPTED_TYPES[variant]:
        return None
    shown = clean_text(declared, limit=60)
    text = f"the server labels the {variant.value} as {shown!r}, not {variant.media_type!r}"
    if declared.startswith(_MEDIA_PREFIXES):
        return MediaProblem(text, found=shown)
    return MediaProblem(text)


def describe_bytes(head: bytes) -> str:
    """What the first bytes of a file look like, e.g. ``"an MP4 video"`` or ``"an HTML page"``."""
    if not head:
        return "nothing"
    if head[4:8] in _ISO_BOXES:
        return "an MP4 video"
    if head.startswith(b"RIFF") and len(head) >= 12:
        return _RIFF_FORMS.get(head[8:12], "a RIFF file")
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return _text_kind(head)


_RIFF_FORMS = {b"WEBP": "a WebP image", b"AVI ": "an AVI video", b"WAVE": "a WAV sound"}
_MAGIC = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1a\x45\xdf\xa3", "a WebM or Matroska video"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"%PDF", "a PDF document"),
    (b"ID3", "an MP3 sound"),
)
_TEXT_STARTS = (
    ((b"<!doctype html", b"<html", b"<head", b"<body"), "an HTML page"),
    ((b"<?xml",), "an XML document"),
    ((b"{", b"["), "JSON"),
)


def _text_kind(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    for starts, name in _TEXT_STARTS:
        if text.startswith(starts):
            return name
    if not head.strip(b"\x00"):
        return "zero bytes"
    if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head):
        return "plain text"
    return "unrecognised binary data"


def _box_name(kind: bytes) -> str:
    if all(32 <= byte < 127 for byte in kind):
        return f"'{kind.decode('ascii')}'"
    return f"0x{kind.hex()}"


def _mp4_damage(handle: BinaryIO, size: int) -> str | None:
    """Walk the top-level boxes of an ISO BMFF file; what breaks the structure, if anything."""
    position = 0
    seen: set[bytes] = set()
    for index in range(_MAX_BOXES):
        if position == size:
            break
        box = _box_at(handle, position, size - position)
        if isinstance(box, str):
            return box
        kind, box_size = box
        if index == 0 and kind != b"ftyp":
            return f"it starts with a {_box_name(kind)} box, not 'ftyp'"
        seen.add(kind)
        position += box_size
    else:
        if position != size:
            return f"more than {_MAX_BOXES} top-level boxes"
    missing = [f"'{kind.decode()}'" for kind in (b"moov", b"mdat") if kind not in seen]
    if missing:
        return f"it has no {' or '.join(missing)} box"
    return None


def _box_at(handle: BinaryIO, position: int, left: int) -> tuple[bytes, int] | str:
    """The type and size of the box at ``position`` (``left`` bytes remain), or what is wrong."""
    handle.seek(position)
    header = handle.read(8)
    if len(header) < 8:
        return f"{left} stray bytes at the end (byte {position}), too few for a box"
    box_size, kind = struct.unpack(">I4s", header)
    header_size = 8
    if box_size == 1:  # a 64-bit size follows the type
        large = handle.read(8)
        if len(large) < 8:
            return f"the {_box_name(kind)} box at byte {position} is cut off in its header"
        (box_size,) = struct.unpack(">Q", large)
        header_size = 16
    elif box_size == 0:  # the box runs to the end of the file
        box_size = left
    if not all(32 <= byte < 127 for byte in kind):
        return f"the bytes at {position} are not a box (type {_box_name(kind)})"
    if box_size < header_size:
        return f"the {_box_name(kind)} box at byte {position} declares only {box_size} bytes"
    if box_size > left:
        return (
            f"the {_box_name(kind)} box at byte {position} declares {box_size} bytes "
            f"but only {left} remain"
        )
    return kind, box_size


def _decode_damage(path: Path) -> str | None:
    """Whether PyAV opens ``path`` and decodes a frame of its first video stream."""
    try:
        with av.open(str(path), mode="r") as container:
            streams = container.streams.video
            if not streams:
                return "it has no video stream"
            for count, packet in enumerate(container.demux(streams[0])):
                if any(True for _ in packet.decode()):
                    return None
                if count >= _MAX_PACKETS:
                    break
            return "no video frame in it decodes"
    except _AV_ERRORS as exc:
        strerror = getattr(exc, "strerror", None)
        text = strerror if isinstance(strerror, str) else str(exc)
        reason = " ".join(text.replace(str(path), path.name).split())[:200]
        return f"PyAV cannot decode it ({reason or type(exc).__name__})"


def _webp_damage(handle: BinaryIO, size: int) -> str | None:
    """Check the RIFF container of a WebP: its size field and the chunks that tile it."""
    handle.seek(4)
    (riff_size,) = struct.unpack("<I", handle.read(4))
    if riff_size + 8 != size:
        return f"its RIFF header declares {riff_size + 8} bytes but the file has {size}"
    position = 12
    for index in range(_MAX_CHUNKS):
        if position == size:
            return None if index else "it has no image chunk"
        handle.seek(position)
        header = handle.read(8)
        if len(header) < 8:
            return (
                f"{size - position} stray bytes at the end (byte {position}), too few for a chunk"
            )
        kind, chunk_size = struct.unpack("<4sI", header)
        if index == 0 and kind not in (b"VP8 ", b"VP8L", b"VP8X"):
            return f"its first chunk is {_box_name(kind)}, not 'VP8 ', 'VP8L' or 'VP8X'"
        end = position + 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
        if end > size:
            return (
                f"the {_box_name(kind)} chunk at byte {position} declares {chunk_size} bytes "
                f"but only {size - position - 8} remain"
            )
        position = end
    return None if position == size else f"more than {_MAX_CHUNKS} chunks"


def _jpeg_damage(handle: BinaryIO, size: int) -> str | None:
    """A JPEG starts with SOI and ends with EOI."""
    handle.seek(max(0, size - 2))
    if size < 4 or handle.read(2) != b"\xff\xd9":
        return "it does not end with an EOI marker (FFD9); it may be cut short"
    return None


def _image_damage(path: Path, size: int, image_format: str) -> str | None:
    """Whether Pillow opens ``path`` as ``image_format`` (only the headers are decoded)."""
    if size > MAX_IMAGE_BYTES:
        return f"it is {size} bytes; an image of more than {MAX_IMAGE_BYTES} bytes is refused"
    try:
        with Image.open(path, formats=[image_format]) as image:
            if image.format != image_format:
                return f"Pillow reads it as {image.format}, not {image_format}"
            image.verify()
    except _PILLOW_ERRORS as exc:
        text = str(exc).replace(str(path), path.name)
        reason = " ".join(text.split())[:200] or type(exc).__name__
        return f"Pillow cannot open it as {image_format} ({reason})"
    return None
