from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from reelforge.store import Store
from reelforge.store.migrate import alembic_config, downgrade, upgrade
from reelforge.store.schema import VERSION_TABLE, include_name, metadata


def _diff(store: Store) -> list[Any]:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_name": include_name,
                "compare_type": True,
                "version_table": VERSION_TABLE,
            },
        )
        return [d for d in compare_metadata(context, metadata) if not _sqlite_length(store, d)]


def _sqlite_length(store: Store, diff: Any) -> bool:
    """SQLite ignores VARCHAR lengths, so migration 0005 widens ``jobs.remote_id`` only on
    other databases: on SQLite that one declared length may differ, and nothing else."""
    if store.engine.dialect.name != "sqlite" or not isinstance(diff, list) or len(diff) != 1:
        return False
    kind, _schema, table, column, _info, old, new = diff[0]
    return (
        (kind, table, column) == ("modify_type", "jobs", "remote_id")
        and isinstance(old, sa.String)
        and isinstance(new, sa.String)
        and (old.length, new.length) == (256, 1024)
    )


def _tables(store: Store) -> set[str]:
    return set(sa.inspect(store.engine).get_table_names())


def test_head_schema_is_exactly_the_declared_tables(store: Store) -> None:
    assert _diff(store) == []
    assert _tables(store) == {*metadata.tables, VERSION_TABLE}


def test_the_declared_columns_are_all_there(store: Store) -> None:
    inspector = sa.inspect(store.engine)
    for table in metadata.sorted_tables:
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name


def test_a_fresh_database_differs_from_the_models(db_path: Path) -> None:
    # The comparison is not vacuous: with no migration applied, every table is missing.
    with Store.for_path(db_path) as fresh:
        added = {entry[1].name for entry in _diff(fresh) if entry[0] == "add_table"}
    assert added == set(metadata.tables)


def test_downgrade_to_base_and_up_again(store: Store) -> None:
    downgrade(store.engine, "base")
    assert _tables(store) == {VERSION_TABLE}
    upgrade(store.engine, "head")
    assert _diff(store) == []


def test_migrate_is_repeatable_and_records_head(store: Store) -> None:
    store.migrate()
    store.migrate()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with store.engine.connect() as connection:
        assert (
            MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE}
            ).get_current_revision()
            == head
        )


def test_foreign_tables_in_the_same_database_are_left_alone(store: Store) -> None:
    # The durable engine keeps its own tables in the same file; our migrations ignore them.
    with store.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE workflow_status (workflow_uuid TEXT PRIMARY KEY)")
    assert _diff(store) == []
    downgrade(store.engine, "base")
    upgrade(store.engine, "head")
    assert "workflow_status" in _tables(store)


def test_migrations_ship_inside_the_package() -> None:
    location = Path(alembic_config().get_main_option("script_location") or "")
    assert (location / "env.py").is_file()
    assert location.parent.name == "store"
    assert not list(location.parent.glob("**/alembic.ini"))


def test_a_remote_id_of_1024_characters_is_stored(store: Store, tmp_path: Path) -> None:
    from sqlalchemy import select

    from reelforge.store.schema import REMOTE_ID_MAX, jobs

    assert REMOTE_ID_MAX == 1024
    column = jobs.c.remote_id
    assert isinstance(column.type, sa.String)
    assert column.type.length == REMOTE_ID_MAX
    with store.engine.connect() as connection:
        assert connection.execute(select(jobs.c.id)).first() is None
