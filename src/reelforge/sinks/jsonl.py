"""The :class:`JsonlSink`: one JSON line per event, appended and fsync'd.

Each line is the webhook document (:func:`reelforge.sinks.payload.payload`) with an ``id``
first: the event's ``webhook-id``. Replays append nothing: on its first delivery the sink reads
the file's last complete line once and from then on skips every event whose id is not above
the last one written. A line torn by a crash (no final newline) is cut off at that moment; its
event was not committed, so the runner delivers it again.

One file belongs to one database: event ids from two databases would interleave.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from reelforge.sinks._ids import short_hash
from reelforge.sinks.base import SinkEvent, SinkUnavailableError
from reelforge.sinks.payload import message_id, payload

__all__ = ["JsonlSink", "last_event_id"]

_BLOCK = 64 * 1024


class JsonlSink:
    """Appends each event to ``path`` (created with its folder if missing).

    ``name`` defaults to ``jsonl:<file name>:<8 hex digits of its absolute path>``.
    """

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        self._path = Path(path).expanduser().absolute()
        self._name = name or f"jsonl:{self._path.name[:64]}:{short_hash(str(self._path))}"
        self._last: int | None = None

    @property
    def name(self) -> str:
        """``jsonl:<file name>:<hash of its path>`` unless given."""
        return self._name

    @property
    def path(self) -> Path:
        """The file written to."""
        return self._path

    def __repr__(self) -> str:
        return f"JsonlSink(name={self._name!r}, path={str(self._path)!r})"

    async def deliver(self, item: SinkEvent) -> None:
        """Append the event unless the file already holds it (or a later one)."""
        try:
            if self._last is None:
                self._last = await asyncio.to_thread(last_event_id, self._path, repair=True)
            if item.event.id <= self._last:
                return
            line = json.dumps(
                {"id": message_id(item), **payload(item)},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            await asyncio.to_thread(self._append, line + "\n")
        except OSError as exc:
            # A failed append may have left half a line: read (and repair) the tail again
            # before the retry, so the retried line starts on a line of its own.
            self._last = None
            raise SinkUnavailableError(f"cannot write {self._path}: {exc.strerror or exc}") from exc
        self._last = item.event.id

    async def aclose(self) -> None:
        """Nothing to release: every append opens and closes the file."""

    def _append(self, line: str) -> None:
        created = not self._path.exists()
        if created:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            _fsync_dir(self._path.parent)


def last_event_id(path: str | os.PathLike[str], *, repair: bool = False) -> int:
    """The ``data.event_id`` of the last complete line of the JSONL file at ``path`` (0 if
    the file is missing or holds none). With ``repair``, a torn last line (no newline at the
    end) is cut off first."""
    file = Path(path)
    if not file.exists():
        return 0
    with file.open("rb+" if repair else "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        end = _complete_end(handle, size)
        if repair and end < size:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
        for raw in _lines_backwards(handle, end):
            found = _event_id(raw)
            if found is not None:
                return found
    return 0


def _complete_end(handle: BinaryIO, size: int) -> int:
    """The offset just after the file's last newline (0 when there is none)."""
    position = size
    while position > 0:
        start = max(0, position - _BLOCK)
        handle.seek(start)
        index = handle.read(position - start).rfind(b"\n")
        if index >= 0:
            return start + index + 1
        position = start
    return 0


def _lines_backwards(handle: BinaryIO, end: int) -> Iterator[bytes]:
    """The non-blank lines before ``end``, last first, read in blocks from the end."""
    carry = b""
    position = end
    while position > 0:
        start = max(0, position - _BLOCK)
        handle.seek(start)
        parts = (handle.read(position - start) + carry).split(b"\n")
        # The first part may continue in the block before: keep it for the next read.
        carry = parts.pop(0) if start > 0 else b""
        for part in reversed(parts):
            if part.strip():
                yield part
        position = start


def _event_id(raw: bytes) -> int | None:
    try:
        document = json.loads(raw)
        value = document["data"]["event_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _fsync_dir(folder: Path) -> None:
    """Make a new file's directory entry durable (where the platform allows it)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
