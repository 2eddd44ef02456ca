"""Executors and batch runners: who runs what, and when a process counts as gone."""

from __future__ import annotations

import subprocess
import sys

from reelforge.store import Store, lease_owner


def _gone_owner() -> str:
    """An executor id of this host whose process has ended."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host, _pid, nonce = lease_owner().rsplit(":", 2)
    return f"{host}:{done.stdout.strip()}:{nonce}"


def test_a_live_runner_keeps_its_batch_and_is_named(store: Store) -> None:
    first, second = lease_owner(), lease_owner()
    store.register_executor(first, command="reelforge run a.yaml", ttl=30)
    store.register_executor(second, command="reelforge run a.yaml", ttl=30)
    assert store.claim_batch("spring", first) is None
    holder = store.claim_batch("spring", second)
    assert holder is not None
    assert holder.id == first
    assert "reelforge run a.yaml" in holder.describe()
    assert store.batch_runner("spring") == holder
    assert store.claim_batch("spring", first) is None  # its own claim again: fine


def test_a_retired_or_gone_runner_frees_its_batch_and_is_dead(store: Store) -> None:
    first, second = lease_owner(), lease_owner()
    store.register_executor(first, command="one", ttl=30)
    store.register_executor(second, command="two", ttl=30)
    store.claim_batch("spring", first)
    store.retire_executor(first)
    assert store.batch_runner("spring") is None
    assert [row.id for row in store.dead_executors()] == [first]
    assert store.claim_batch("spring", second) is None

    gone = _gone_owner()
    store.register_executor(gone, command="killed", ttl=30)
    store.claim_batch("autumn", gone)
    assert gone in {row.id for row in store.dead_executors()}
    assert store.claim_batch("autumn", second) is None  # a killed process's claim is void
    store.forget_executor(gone)
    assert gone not in {row.id for row in store.dead_executors()}


def test_an_expired_lease_is_dead_and_cannot_be_renewed(store: Store) -> None:
    owner = lease_owner()
    store.register_executor(owner, command="x", ttl=0.0)
    assert owner in {row.id for row in store.dead_executors()}
    assert not store.renew_executor(owner, ttl=30)
