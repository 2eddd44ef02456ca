"""A database a newer reelforge wrote is refused, untouched; a database that cannot be reached
is named with its password masked. Both exit 2 on the command line."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from reelforge.cli import app
from reelforge.store import SchemaTooNewError, Store
from reelforge.store.schema import VERSION_TABLE


def _set_version(store: Store, version: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            sa.table(VERSION_TABLE, sa.column("version_num")).update(), {"version_num": version}
        )


def _version(store: Store) -> str:
    with store.engine.connect() as conn:
        table = sa.table(VERSION_TABLE, sa.column("version_num"))
        return str(conn.execute(sa.select(table.c.version_num)).scalar_one())


def test_a_newer_schema_is_refused_and_left_as_it_is(store: Store) -> None:
    store.upsert_batch("kept", name="Kept", out_dir="out")
    _set_version(store, "0999")
    with pytest.raises(SchemaTooNewError, match=r"version 0999, newer than this reelforge") as e:
        store.migrate()
    assert e.value.found == "0999"
    assert _version(store) == "0999"
    assert [b.id for b in store.batches()] == ["kept"]


def test_the_cli_exits_2_naming_the_database_and_the_versions(store: Store) -> None:
    _set_version(store, "0999")
    result = CliRunner().invoke(app, ["status", "--db", store.url])
    assert result.exit_code == 2, result.output
    assert "schema is version 0999" in result.output
    assert "upgrade reelforge" in result.output


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_postgres_url_exits_2_with_its_password_masked() -> None:
    url = f"postgresql://reelforge:s3cret-pw@127.0.0.1:{_closed_port()}/reelforge"
    result = CliRunner().invoke(app, ["status", "--db", url])
    assert result.exit_code == 2, result.output
    assert "postgresql://reelforge:***@127.0.0.1:" in result.output
    assert "s3cret-pw" not in result.output
    assert "cannot be opened as a database" in result.output
