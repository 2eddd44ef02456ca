"""Writing files safely: atomically, durably, never half-written."""

from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path

__all__ = ["sync_directory", "write_atomic_json"]


def write_atomic_json(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file, fsync and an atomic rename.

    Temporary files an earlier, killed writer left beside ``path`` are removed first (one
    writer per file at a time: a job's own workflow)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every platform can open a
    folder)."""
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
