"""Executors behind :class:`reelforge.store.Store`: the processes running workflows.

Each engine process registers a row under its DBOS executor id (``host:pid:nonce``, see
:func:`reelforge.store.lease_owner`) and renews it while it runs. A row whose lease expired, or
whose process ran on this host and is gone (``kill -9``), is *dead*: another engine recovers its
pending workflows, then forgets it. A live process's workflows are never recovered by another.

A batch names the executor running it (``batch_runners``), so a second process on the same
batch can be refused with a message that says which process holds it. The claim is made before
the process starts any workflow, so the batch need not be recorded yet.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from sqlalchemy import Connection, RowMapping, delete, select

from reelforge.store._leases import owner_is_gone
from reelforge.store._sql import insert_for
from reelforge.store.schema import batch_runners, executors

__all__ = [
    "ExecutorRow",
    "claim_batch",
    "dead",
    "forget",
    "read",
    "register",
    "release_batches",
    "renew",
    "retire",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutorRow:
    """One process running workflows, and until when its lease holds."""

    id: str
    host: str
    pid: int
    command: str
    started_at: float
    expires_at: float

    @classmethod
    def from_mapping(cls, row: RowMapping) -> ExecutorRow:
        """Build from an ``executors`` row."""
        return cls(
            id=row["id"],
            host=row["host"],
            pid=row["pid"],
            command=row["command"],
            started_at=row["started_at"],
            expires_at=row["expires_at"],
        )

    def is_dead(self, now: float) -> bool:
        """Whether its lease expired or its process (on this host) is gone."""
        return self.expires_at <= now or owner_is_gone(self.id)

    def describe(self) -> str:
        """``process 4242 on host-a (`reelforge run spring.yaml`, started 10:15:02)``."""
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        where = "this machine" if self.host == socket.gethostname() else self.host
        return f"process {self.pid} on {where} (`{self.command}`, started {started})"


def register(
    conn: Connection, executor_id: str, *, command: str, ttl: float, now: float
) -> ExecutorRow:
    """Add this process's row, its lease running ``ttl`` seconds."""
    row = ExecutorRow(
        id=executor_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        command=command[:2000],
        started_at=now,
        expires_at=now + ttl,
    )
    conn.execute(
        insert_for(conn, executors).values(
            id=row.id,
            host=row.host,
            pid=row.pid,
            command=row.command,
            started_at=row.started_at,
            expires_at=row.expires_at,
        )
    )
    return row


def renew(conn: Connection, executor_id: str, *, ttl: float, now: float) -> bool:
    """Extend the lease; False when the row is gone or had expired (declared dead)."""
    result = conn.execute(
        executors.update()
        .where(executors.c.id == executor_id, executors.c.expires_at > now)
        .values(expires_at=now + ttl)
    )
    return result.rowcount == 1


def retire(conn: Connection, executor_id: str) -> None:
    """This process is stopping: its lease ends now (so any workflow it leaves pending is
    recovered by the next engine) and it runs no batch any more."""
    conn.execute(executors.update().where(executors.c.id == executor_id).values(expires_at=0.0))
    release_batches(conn, executor_id)


def read(conn: Connection, executor_id: str) -> ExecutorRow | None:
    """The executor's row, if it has one."""
    row = conn.execute(select(executors).where(executors.c.id == executor_id)).mappings().first()
    return ExecutorRow.from_mapping(row) if row is not None else None


def dead(conn: Connection, *, now: float) -> list[ExecutorRow]:
    """Every executor whose lease expired or whose process is gone."""
    rows = conn.execute(select(executors).order_by(executors.c.started_at)).mappings()
    return [found for row in rows if (found := ExecutorRow.from_mapping(row)).is_dead(now)]


def forget(conn: Connection, executor_id: str) -> None:
    """Remove a dead executor (once its workflows are recovered)."""
    conn.execute(delete(executors).where(executors.c.id == executor_id))
    release_batches(conn, executor_id)


def claim_batch(
    conn: Connection, batch_id: str, executor_id: str, *, now: float
) -> ExecutorRow | None:
    """Name ``executor_id`` as the batch's runner, unless another live executor is; return
    that other executor (nothing changes then), or None when the claim holds."""
    query = select(batch_runners).where(batch_runners.c.batch_id == batch_id)
    row = conn.execute(query.with_for_update()).mappings().first()
    if row is None:
        conn.execute(
            insert_for(conn, batch_runners).values(batch_id=batch_id, executor_id=executor_id)
        )
        return None
    runner = row["executor_id"]
    if runner != executor_id:
        holder = read(conn, runner)
        if holder is not None and not holder.is_dead(now):
            return holder
        conn.execute(
            batch_runners.update()
            .where(batch_runners.c.batch_id == batch_id)
            .values(executor_id=executor_id)
        )
    return None


def runner_of(conn: Connection, batch_id: str, *, now: float) -> ExecutorRow | None:
    """The live executor running the batch, if any."""
    runner = conn.scalar(
        select(batch_runners.c.executor_id).where(batch_runners.c.batch_id == batch_id)
    )
    if runner is None:
        return None
    holder = read(conn, runner)
    return holder if holder is not None and not holder.is_dead(now) else None


def release_batches(conn: Connection, executor_id: str) -> None:
    """Every batch ``executor_id`` ran has no runner any more."""
    conn.execute(delete(batch_runners).where(batch_runners.c.executor_id == executor_id))
