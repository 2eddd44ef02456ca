"""Sink leases behind :class:`reelforge.store.Store`: which runner may deliver a sink now.

A lease names its owner as ``host:pid:nonce`` (:func:`lease_owner`) and expires at a Unix time.
It can be taken when there is none, when it expired, when it is already ours, or when its owner
ran on this host and its process is gone (killed with ``-9``: the restarted process need not wait
for the lease to expire). Every function runs inside the caller's write transaction.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass

from sqlalchemy import Connection, RowMapping, delete, select

from reelforge.store._sql import insert_for
from reelforge.store.schema import sink_leases

__all__ = [
    "SinkLease",
    "acquire",
    "lease_owner",
    "owner_is_gone",
    "read",
    "release",
    "renew",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class SinkLease:
    """Who may deliver the sink ``name``, and until when (Unix seconds)."""

    name: str
    owner: str
    expires_at: float

    @classmethod
    def from_mapping(cls, row: RowMapping) -> SinkLease:
        """Build from a ``sink_leases`` row."""
        return cls(name=row["name"], owner=row["owner"], expires_at=row["expires_at"])


def lease_owner() -> str:
    """A new owner identity for this process: ``host:pid:nonce`` (the nonce tells two runners
    of one process apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"


def owner_is_gone(owner: str) -> bool:
    """Whether ``owner`` ran on this host in a process that no longer exists. An owner from
    another host, or one that cannot be read, is never gone (its lease must expire)."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return False
    host, pid_text, _nonce = parts
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: alive, but someone else's
        return False
    return False


def read(conn: Connection, name: str) -> SinkLease | None:
    """The sink's lease, expired or not; None when nobody holds it."""
    row = conn.execute(select(sink_leases).where(sink_leases.c.name == name)).mappings().first()
    return SinkLease.from_mapping(row) if row is not None else None


def _current(conn: Connection, name: str) -> RowMapping | None:
    query = select(sink_leases).where(sink_leases.c.name == name).with_for_update()
    return conn.execute(query).mappings().first()


def acquire(conn: Connection, name: str, owner: str, *, ttl: float, now: float) -> SinkLease:
    """Take (or extend) the lease when it is free, expired, ours or its owner is gone; return
    the lease as it stands afterwards (ours when ``lease.owner == owner``)."""
    row = _current(conn, name)
    expires_at = now + ttl
    if row is None:
        conn.execute(
            insert_for(conn, sink_leases).values(name=name, owner=owner, expires_at=expires_at)
        )
    elif row["owner"] == owner or row["expires_at"] <= now or owner_is_gone(row["owner"]):
        conn.execute(
            sink_leases.update()
            .where(sink_leases.c.name == name)
            .values(owner=owner, expires_at=expires_at)
        )
    else:
        return SinkLease.from_mapping(row)
    return SinkLease(name=name, owner=owner, expires_at=expires_at)


def renew(conn: Connection, name: str, owner: str, *, ttl: float, now: float) -> bool:
    """Extend the lease if ``owner`` still holds it; False when it was lost (taken over once
    it expired), in which case nothing changes."""
    result = conn.execute(
        sink_leases.update()
        .where(sink_leases.c.name == name, sink_leases.c.owner == owner)
        .values(expires_at=now + ttl)
    )
    return result.rowcount == 1


def release(conn: Connection, name: str, owner: str) -> bool:
    """Give the lease up if ``owner`` holds it; return whether it did."""
    result = conn.execute(
        delete(sink_leases).where(sink_leases.c.name == name, sink_leases.c.owner == owner)
    )
    return result.rowcount == 1
