"""Schema migrations run from code: no ``alembic.ini`` is needed at run time.

The scripts ship inside the package (``reelforge/store/migrations``) and are found with
:mod:`importlib.resources`.
"""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine

from reelforge.store.engine import WRITE_OPTION
from reelforge.store.errors import SchemaTooNewError
from reelforge.store.schema import VERSION_TABLE

__all__ = ["alembic_config", "downgrade", "make_revision", "upgrade"]


def alembic_config(connection: Connection | None = None, *, url: str | None = None) -> Config:
    """An Alembic configuration for the store's scripts, bound to ``connection`` or ``url``."""
    config = Config()
    config.set_main_option("script_location", str(files("reelforge.store") / "migrations"))
    if url is not None:
        # ``%`` is ConfigParser's interpolation character; a password may contain it.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision``, in one write transaction.

    A database written by a newer reelforge (a schema version these scripts do not know) is
    left untouched: :class:`SchemaTooNewError`.
    """
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        config = alembic_config(connection)
        _refuse_newer(connection, config)
        command.upgrade(config, revision)
        connection.commit()


def _refuse_newer(connection: Connection, config: Config) -> None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    current = context.get_current_heads()
    scripts = ScriptDirectory.from_config(config)
    head = scripts.get_current_head() or "base"
    for version in current:
        try:
            scripts.get_revision(version)
        except CommandError:
            connection.rollback()
            raise SchemaTooNewError(version, head) from None


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the database down to ``revision`` (``base`` drops every table of ours)."""
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        command.downgrade(alembic_config(connection), revision)
        connection.commit()


def make_revision(engine: Engine, message: str) -> None:
    """Write a new revision script comparing ``schema.py`` with the database (for developers:
    migrate a scratch database to head, change ``schema.py``, then call this)."""
    with engine.connect() as connection:
        command.revision(alembic_config(connection), message=message, autogenerate=True)
