"""``write_atomic_json``: complete files only, and no debris from a writer that was killed."""

from __future__ import annotations

import json
from pathlib import Path

from reelforge.core.files import write_atomic_json


def test_writes_the_whole_document(tmp_path: Path) -> None:
    target = tmp_path / "job" / "job.json"
    write_atomic_json(target, {"state": "done", "cost": "0.40"})
    assert json.loads(target.read_text("utf-8")) == {"state": "done", "cost": "0.40"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["job.json"]


def test_removes_temporary_files_a_killed_writer_left(tmp_path: Path) -> None:
    target = tmp_path / "job.json"
    (tmp_path / ".job.json.abc123.tmp").write_text('{"half": ', encoding="utf-8")
    (tmp_path / ".other.json.abc123.tmp").write_text("{}", encoding="utf-8")  # not ours

    write_atomic_json(target, {"state": "done"})

    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.abc123.tmp", "job.json"]
