"""The sink lease: one runner at a time delivers a sink, even across processes (two Store
objects on one SQLite file stand for two processes); an expired lease, or one whose process on
this host is gone, is taken over at once."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sink_helpers import WallClock, add_batch, run_to_done

from reelforge.sinks import SinkEvent, SinkRunner
from reelforge.store import Store, lease_owner
from reelforge.store.migrate import downgrade, upgrade

TTL = 120.0


class SharedLogSink:
    """A sink that appends what it delivers to a list shared with other runners' sinks, and
    yields to the event loop inside ``deliver`` so two runners interleave."""

    def __init__(self, log: list[int], name: str = "shared") -> None:
        self._name = name
        self.log = log

    @property
    def name(self) -> str:
        return self._name

    async def deliver(self, item: SinkEvent) -> None:
        await asyncio.sleep(0.005)
        self.log.append(item.event.id)

    async def aclose(self) -> None:
        pass


@pytest.fixture
def other(db_path: Path, store: Store, wall: WallClock) -> Iterator[Store]:
    """A second Store on the same file: another process, as far as the database can tell."""
    with Store(store.url, now=wall) as opened:
        yield opened


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _everything(store: Store) -> list[int]:
    first, second = add_batch(store, 2)
    run_to_done(store, first, "video_1")
    run_to_done(store, second, "video_2")
    return [event.id for event in store.events_after(0, 1000)]


async def test_two_processes_draining_one_sink_deliver_each_event_once_in_order(
    store: Store, other: Store
) -> None:
    expected = _everything(store)
    log: list[int] = []
    first = SinkRunner(store, [SharedLogSink(log)])
    second = SinkRunner(other, [SharedLogSink(log)])
    async with asyncio.timeout(30):
        results = await asyncio.gather(first.drain(), second.drain())
    assert results == [True, True]
    assert log == expected
    assert store.sink_cursor("shared").delivered == len(expected)
    assert store.sink_lease("shared") is None  # released at the end of each pass


async def test_a_follower_and_a_sync_in_another_process_never_deliver_twice(
    store: Store, other: Store
) -> None:
    expected = _everything(store)
    log: list[int] = []
    follower = SinkRunner(store, [SharedLogSink(log)])
    task = asyncio.create_task(follower.run_forever(poll_interval=0.01))
    try:
        async with asyncio.timeout(30):
            # Caught up: every event was delivered, by one runner or the other.
            assert await SinkRunner(other, [SharedLogSink(log)]).drain() is True
    finally:
        follower.stop()
        async with asyncio.timeout(10):
            await task
    assert log == expected


async def test_drain_waits_for_the_holder_and_gives_up_at_its_deadline(
    store: Store, other: Store
) -> None:
    expected = _everything(store)
    holder = lease_owner()  # this very process, another runner: alive
    assert other.acquire_sink_lease("shared", holder, ttl=TTL).owner == holder
    log: list[int] = []
    runner = SinkRunner(store, [SharedLogSink(log)])
    start = time.monotonic()
    assert await runner.drain(deadline=start + 0.3) is False
    assert time.monotonic() - start < 2
    assert log == []
    # Once the holder lets go, the waiting drain gets the sink.
    waiting = asyncio.create_task(runner.drain())
    await asyncio.sleep(0.1)
    assert other.release_sink_lease("shared", holder)
    async with asyncio.timeout(10):
        assert await waiting is True
    assert log == expected


def test_a_lease_is_taken_only_when_free_expired_or_ours(
    store: Store, other: Store, wall: WallClock
) -> None:
    mine, theirs = lease_owner(), lease_owner()
    assert mine != theirs
    lease = store.acquire_sink_lease("notion", mine, ttl=TTL)
    assert (lease.owner, lease.expires_at) == (mine, wall() + TTL)
    assert other.acquire_sink_lease("notion", theirs, ttl=TTL).owner == mine
    wall.advance(60)
    assert store.acquire_sink_lease("notion", mine, ttl=TTL).expires_at == wall() + TTL
    assert store.renew_sink_lease("notion", mine, ttl=TTL)
    assert not other.renew_sink_lease("notion", theirs, ttl=TTL)
    assert not other.release_sink_lease("notion", theirs)
    # Another sink's lease is another row.
    assert other.acquire_sink_lease("webhook:1", theirs, ttl=TTL).owner == theirs


def test_an_expired_lease_is_taken_over_and_its_old_owner_cannot_renew_it(
    store: Store, other: Store, wall: WallClock
) -> None:
    mine, theirs = lease_owner(), lease_owner()
    store.acquire_sink_lease("notion", mine, ttl=TTL)
    wall.advance(TTL - 1)
    assert other.acquire_sink_lease("notion", theirs, ttl=TTL).owner == mine
    wall.advance(1)
    assert other.acquire_sink_lease("notion", theirs, ttl=TTL).owner == theirs
    assert not store.renew_sink_lease("notion", mine, ttl=TTL)
    assert not store.release_sink_lease("notion", mine)
    assert store.sink_lease("notion") is not None


def test_a_lease_whose_process_on_this_host_is_gone_is_taken_over_at_once(
    store: Store, other: Store
) -> None:
    dead = f"{socket.gethostname()}:{_dead_pid()}:0123456789abcdef"
    assert store.acquire_sink_lease("notion", dead, ttl=TTL).owner == dead
    restarted = lease_owner()
    assert other.acquire_sink_lease("notion", restarted, ttl=TTL).owner == restarted


@pytest.mark.parametrize(
    "holder",
    [
        pytest.param(f"{socket.gethostname()}:{os.getppid()}:0123456789abcdef", id="alive"),
        pytest.param("elsewhere.example:1:0123456789abcdef", id="another-host"),
        pytest.param("garbled", id="unreadable"),
    ],
)
def test_a_lease_held_by_a_live_or_unknown_process_must_expire(
    store: Store, other: Store, holder: str
) -> None:
    store.acquire_sink_lease("notion", holder, ttl=TTL)
    assert other.acquire_sink_lease("notion", lease_owner(), ttl=TTL).owner == holder


async def test_a_runner_killed_mid_pass_does_not_block_its_successor(
    store: Store, other: Store
) -> None:
    expected = _everything(store)
    # The lease a process killed with -9 left behind, on this host.
    dead = f"{socket.gethostname()}:{_dead_pid()}:0123456789abcdef"
    store.acquire_sink_lease("shared", dead, ttl=TTL)
    log: list[int] = []
    start = time.monotonic()
    assert await SinkRunner(other, [SharedLogSink(log)]).drain(deadline=start + 10) is True
    assert time.monotonic() - start < 5
    assert log == expected


def test_migration_0003_adds_the_lease_table_and_takes_it_away(store: Store) -> None:
    store.acquire_sink_lease("notion", lease_owner(), ttl=TTL)
    downgrade(store.engine, "0002")
    tables = set(sa.inspect(store.engine).get_table_names())
    assert "sink_leases" not in tables
    assert {"sink_cursors", "sink_pages"} <= tables
    upgrade(store.engine, "head")
    assert store.sink_lease("notion") is None
