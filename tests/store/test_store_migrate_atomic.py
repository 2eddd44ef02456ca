"""Migrating to head is one write transaction, however many revisions it applies: another
process migrating the same file waits for all of them, never for half."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from reelforge.store import Store
from reelforge.store.migrate import upgrade


def test_every_revision_commits_together(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'fresh.db'}")
    statements: list[str] = []
    commits: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    event.listen(store.engine, "commit", lambda conn: commits.append("commit"))
    try:
        upgrade(store.engine)
    finally:
        store.close()
    begins = [s for s in statements if s.strip().upper().startswith("BEGIN")]
    assert begins == ["BEGIN IMMEDIATE"]
    assert commits == ["commit"]
    assert sum("CREATE TABLE sink_cursors" in s for s in statements) == 1  # the last revision
