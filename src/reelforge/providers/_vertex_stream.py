"""Reading a ``fetchPredictOperation`` answer as it streams, with the inline video taken out.

An operation whose video came inline carries the whole MP4 as one base64 string
(``bytesBase64Encoded``): tens of megabytes in a JSON body. :class:`InlineScanner` walks the
body's bytes once, copies everything but that string into a small *skeleton* (the same JSON with
``""`` in its place, capped like any JSON answer) and hands the string's decoded bytes to a
sink a network read at a time — a file on disk, or nothing when only the status is wanted. So
neither the base64 text nor the video is ever held whole in memory.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from enum import Enum

from reelforge.core.errors import ProtocolError

__all__ = ["InlineScanner"]

_KEY = b"bytesBase64Encoded"
_WHITESPACE = b" \t\r\n"
_QUANTUM = 4


class _Mode(Enum):
    """Where the scanner is in the JSON text."""

    OUT = "out"
    """Between strings."""
    STRING = "string"
    """Inside an ordinary string (kept in the skeleton)."""
    ESCAPE = "escape"
    """Right after a backslash in an ordinary string."""
    INLINE = "inline"
    """Inside the inline video's base64 string (sent to the sink)."""
    INLINE_ESCAPE = "inline_escape"
    """Right after a backslash in the base64 string (only ``\\/`` can occur)."""


class InlineScanner:
    """Splits a JSON body into its skeleton and the decoded ``bytesBase64Encoded`` value.

    ``sink`` receives the decoded video a piece at a time (``None``: the bytes are counted, not
    decoded). More than ``max_skeleton`` bytes of other JSON, or an inline video larger than
    ``max_video`` bytes, is a :class:`ProtocolError`.
    """

    def __init__(
        self,
        sink: Callable[[bytes], None] | None,
        *,
        max_skeleton: int,
        max_video: int,
        label: str,
    ) -> None:
        self._sink = sink
        self._max_skeleton = max_skeleton
        self._max_video = max_video
        self._label = label
        self._mode = _Mode.OUT
        self._skeleton = bytearray()
        self._string = bytearray()
        self._after_key = 0
        """1 after the string ``"bytesBase64Encoded"``, 2 after its colon too."""
        self._rest = b""
        self.video_bytes = 0
        """Decoded size of the inline video so far (estimated when not decoding)."""
        self.inline_count = 0
        """How many inline video strings the body held."""

    def feed(self, chunk: bytes) -> None:
        """Scan the next piece of the body."""
        position, end = 0, len(chunk)
        while position < end:
            mode = self._mode
            if mode is _Mode.OUT:
                position = self._out(chunk, position)
            elif mode is _Mode.STRING:
                position = self._in_string(chunk, position)
            elif mode is _Mode.ESCAPE:
                self._string += chunk[position : position + 1]
                self._mode = _Mode.STRING
                position += 1
            elif mode is _Mode.INLINE:
                position = self._in_inline(chunk, position)
            else:
                if chunk[position : position + 1] != b"/":
                    raise ProtocolError(f"{self._label}: the inline video is not base64")
                self._video(b"/")
                self._mode = _Mode.INLINE
                position += 1
            if len(self._skeleton) + len(self._string) > self._max_skeleton:
                raise ProtocolError(
                    f"{self._label}: the answer is larger than {self._max_skeleton} bytes "
                    "besides the inline video"
                )

    def finish(self) -> bytes:
        """The skeleton, once the whole body was fed."""
        if self._mode is not _Mode.OUT:
            raise ProtocolError(f"{self._label}: the answer ends inside a string")
        return bytes(self._skeleton)

    def _out(self, chunk: bytes, position: int) -> int:
        byte = chunk[position]
        self._skeleton.append(byte)
        if byte == ord('"'):
            if self._after_key == 2:  # the key and its colon were seen
                self.inline_count += 1
                if self._sink is not None and self.inline_count > 1:
                    raise ProtocolError(f"{self._label}: the answer holds more than one video")
                self._mode = _Mode.INLINE
            else:
                self._mode = _Mode.STRING
            self._after_key = 0
        elif byte == ord(":") and self._after_key == 1:
            self._after_key = 2
        elif byte not in _WHITESPACE:
            self._after_key = 0
        return position + 1

    def _in_string(self, chunk: bytes, position: int) -> int:
        quote = chunk.find(b'"', position)
        backslash = chunk.find(b"\\", position)
        stops = [index for index in (quote, backslash) if index >= 0]
        if not stops:
            self._string += chunk[position:]
            return len(chunk)
        stop = min(stops)
        self._string += chunk[position:stop]
        if stop == backslash:
            self._string += b"\\"
            self._mode = _Mode.ESCAPE
            return stop + 1
        self._after_key = 1 if self._string == _KEY else 0
        self._skeleton += self._string
        self._skeleton.append(ord('"'))
        self._string.clear()
        self._mode = _Mode.OUT
        return stop + 1

    def _in_inline(self, chunk: bytes, position: int) -> int:
        quote = chunk.find(b'"', position)
        backslash = chunk.find(b"\\", position)
        stops = [index for index in (quote, backslash) if index >= 0]
        stop = min(stops) if stops else len(chunk)
        self._video(chunk[position:stop])
        if stop == len(chunk):
            return stop
        if stop == backslash:
            self._mode = _Mode.INLINE_ESCAPE
            return stop + 1
        self._end_video()
        self._skeleton.append(ord('"'))
        self._mode = _Mode.OUT
        return stop + 1

    def _video(self, text: bytes) -> None:
        if self._sink is None:
            self.video_bytes += len(text) * 3 // 4
            self._check_size()
            return
        data = self._rest + text
        cut = len(data) - len(data) % _QUANTUM
        self._rest = data[cut:]
        if cut:
            try:
                decoded = binascii.a2b_base64(data[:cut], strict_mode=True)
            except binascii.Error:
                raise ProtocolError(f"{self._label}: the inline video is not base64") from None
            self.video_bytes += len(decoded)
            self._check_size()
            self._sink(decoded)

    def _end_video(self) -> None:
        if self._rest:
            raise ProtocolError(f"{self._label}: the inline video's base64 is cut short")

    def _check_size(self) -> None:
        if self.video_bytes > self._max_video:
            raise ProtocolError(
                f"{self._label}: the inline video is larger than {self._max_video} bytes"
            )
