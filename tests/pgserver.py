"""A throwaway PostgreSQL server for the tests, and a fresh database per test.

``REELFORGE_TEST_POSTGRES_URL`` (a server URL such as ``postgresql://reelforge@127.0.0.1:5432/``)
points the tests at a running server; otherwise the first test that asks starts one from
Debian's ``postgresql`` package: ``initdb`` into a temporary folder and ``pg_ctl start`` on a
free loopback port, as the ``postgres`` user when the tests run as root (the server refuses
root). Each test gets a database of its own (``CREATE DATABASE``), dropped afterwards.

Where neither is possible the tests that need Postgres skip with the install command — except
under ``CI=true``, where a missing server is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

__all__ = ["PostgresServer", "postgres_server", "started_server"]

INSTALL = "apt-get install -y postgresql"


@dataclass(frozen=True)
class PostgresServer:
    """A running server: ``url(name)`` is the SQLAlchemy URL of database ``name`` on it."""

    host: str
    port: int
    user: str
    control: tuple[str, ...] = ()
    """How to run ``pg_ctl`` on it (``-D`` included), for a server these tests started."""

    def restart(self) -> None:
        """Stop the server (dropping every connection) and start it again: ``pg_ctl restart``."""
        if not self.control:
            raise RuntimeError("only a server the tests started can be restarted")
        subprocess.run(  # noqa: S603  # fixed arguments
            [*self.control, "-m", "fast", "-w", "restart"],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    @contextmanager
    def database(self) -> Iterator[str]:
        """A new empty database for one test; its URL. Dropped (connections and all) after."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            with self.admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL is not available ({reason}); install it with: {INSTALL}")


@contextmanager
def started_server() -> Iterator[PostgresServer]:
    """A server of the test's own (one it may restart), stopped and removed at the end."""
    with _started() as server:
        yield server


@contextmanager
def _started() -> Iterator[PostgresServer]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        _unavailable("no pg_ctl on this machine")
        raise AssertionError  # unreachable: skip and fail raise
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="reelforge-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, user="postgres")
    data, port = root / "data", _free_port()
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "reelforge", "--auth=trust"]
    try:
        subprocess.run(  # noqa: S603  # fixed arguments
            [*as_user, *initdb, "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        log = ["-w", "-l", str(root / "server.log")]
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(  # noqa: S603  # fixed arguments
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, *log, "start"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"could not start a server: {detail.strip()[-500:]}")
    control = (*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"))
    try:
        yield PostgresServer(host="127.0.0.1", port=port, user="reelforge", control=control)
    finally:
        subprocess.run(  # noqa: S603  # fixed arguments
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The tests' PostgreSQL server (see the module)."""
    external = os.environ.get("REELFORGE_TEST_POSTGRES_URL")
    if external:
        parsed = psycopg.conninfo.conninfo_to_dict(external)
        yield PostgresServer(
            host=str(parsed.get("host", "127.0.0.1")),
            port=int(parsed.get("port", 5432)),
            user=str(parsed.get("user", "reelforge")),
        )
        return
    with _started() as server:
        yield server
