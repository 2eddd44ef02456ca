"""Migration 0002 adds the sink tables and takes them away again, leaving the rest alone."""

from __future__ import annotations

import sqlalchemy as sa
from sink_helpers import add_batch

from reelforge.store import Store
from reelforge.store.migrate import downgrade, upgrade

SINK_TABLES = {"sink_cursors", "sink_pages"}


def _tables(store: Store) -> set[str]:
    return set(sa.inspect(store.engine).get_table_names())


def test_down_to_0001_drops_only_the_sink_tables_and_keeps_jobs(store: Store) -> None:
    job, _ = add_batch(store, 2)
    store.advance_sink("webhook:1", 2, delivered=2)
    store.record_external_id("notion", job, "page-1")
    downgrade(store.engine, "0001")
    assert not SINK_TABLES & _tables(store)
    assert {"jobs", "job_events"} <= _tables(store)
    with store.engine.connect() as conn:  # today's code reads today's schema: ask in SQL
        key = conn.execute(sa.text("SELECT key FROM jobs WHERE id = :id"), {"id": job}).scalar()
    assert key == "job-0"
    upgrade(store.engine, "head")
    assert store.get_job(job).key == "job-0"
    assert _tables(store) >= SINK_TABLES
    # The bookkeeping starts afresh: every sink delivers the outbox from its beginning.
    assert store.sink_cursor("webhook:1").cursor == 0
    assert store.external_id("notion", job) is None


def test_the_sink_columns_hold_no_secret_shaped_fields(store: Store) -> None:
    inspector = sa.inspect(store.engine)
    columns = {column["name"] for table in SINK_TABLES for column in inspector.get_columns(table)}
    assert not {name for name in columns if any(w in name for w in ("secret", "token", "url"))}
