"""Alembic's entry point for the store's migrations.

:mod:`reelforge.store.migrate` passes an open connection in ``config.attributes["connection"]``
(so the store's SQLite pragmas and ``BEGIN IMMEDIATE`` apply); with none, one is opened from
``sqlalchemy.url``. Only our own tables are looked at: the durable engine's tables in the same
database are never compared, altered or dropped.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from reelforge.store.engine import make_engine
from reelforge.store.schema import VERSION_TABLE, include_name, metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        render_as_batch=True,
        compare_type=True,
        # SQLite runs DDL inside transactions. Without this, Alembic commits after each
        # revision, releasing the write lock between them: another process migrating the same
        # file could then apply a revision this one has already planned to apply.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=metadata,
            version_table=VERSION_TABLE,
            literal_binds=True,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url for the store's migrations")
    engine = make_engine(url)
    try:
        with engine.connect() as opened:
            _run(opened)
    finally:
        engine.dispose()


_main()
