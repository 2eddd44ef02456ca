"""Helpers for the worker tests: ``reelforge run --detach`` and ``reelforge worker`` processes
against a ``reelforge sim`` process, on SQLite or PostgreSQL, and the checks of a finished
batch read from a database URL (``engine_harness.check_batch`` reads a SQLite file)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import sqlalchemy as sa
from engine_harness import (
    CAP,
    CREATE_TIMEOUT,
    BatchFile,
    SimProcess,
    Workspace,
    check_outcome,
    clean_env,
)

from reelforge.core.models import JobState
from reelforge.store import JobRow, Store
from reelforge.store.errors import StoreError

__all__ = [
    "KEY",
    "Worker",
    "Workers",
    "check_finished",
    "detach",
    "executors_of",
    "read_with_retry",
    "unfinished",
    "wait_until",
    "workers",
]

KEY = "sk-workers-0001"
READY_WITHIN = 60.0
"""Seconds a worker may take to start (DBOS's launch and migrations on a loaded machine)."""

_T = TypeVar("_T")


def _reelforge(*args: str) -> list[str]:
    return [sys.executable, "-m", "reelforge", *args]


def detach(
    db_url: str, sim: SimProcess, batch: BatchFile, folder: Path, *, key: str = KEY
) -> subprocess.CompletedProcess[str]:
    """``reelforge run BATCH --detach --json`` to its end (it returns at once)."""
    return subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        _reelforge(
            *("run", str(batch.path), "--detach", "--json", "--db", db_url),
            *("--base-url", sim.base_url, "--out", str(folder / "out")),
            *("--max-in-flight", str(CAP), "--create-timeout", str(CREATE_TIMEOUT)),
        ),
        env=clean_env(OPENAI_API_KEY=key),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Worker:
    """A running ``reelforge worker`` process."""

    process: subprocess.Popen[str]
    stderr_path: Path
    executor: str = ""
    _stderr: IO[bytes] | None = field(default=None, repr=False)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        """Wait for the ``--json`` line saying the worker runs (its executor id)."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + READY_WITHIN
        line = ""
        while time.monotonic() < deadline and not line:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                break
        assert line, f"the worker did not start:\n{self.stderr()[-4000:]}"
        self.executor = json.loads(line)["executor"]

    def kill(self) -> None:
        """``kill -9``: no clean-up of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()


class Workers:
    """Starts ``reelforge worker`` processes on one database; every one is killed at the end."""

    def __init__(
        self,
        db_url: str,
        sim: SimProcess,
        folder: Path,
        *,
        key: str = KEY,
        concurrency: int | None = None,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.db_url = db_url
        self.sim = sim
        self.folder = folder
        self.key = key
        self.concurrency = concurrency
        self.extra = extra
        self.env = env or {}
        self.started: list[Worker] = []

    def start(self, *, ready: bool = True) -> Worker:
        n = len(self.started) + 1
        stderr_path = self.folder / f"worker-{n}.log"
        stderr = stderr_path.open("wb")
        command = _reelforge(
            *("worker", "--json", "--db", self.db_url, "--base-url", self.sim.base_url),
            *("--max-in-flight", str(CAP), "--create-timeout", str(CREATE_TIMEOUT)),
            *(("--concurrency", str(self.concurrency)) if self.concurrency else ()),
            *self.extra,
        )
        process = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed arguments
            command,
            env=clean_env(OPENAI_API_KEY=self.key, **self.env),
            cwd=self.folder,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        worker = Worker(process=process, stderr_path=stderr_path, _stderr=stderr)
        self.started.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    def start_many(self, count: int) -> list[Worker]:
        """Start ``count`` workers at once, then wait for each to run."""
        started = [self.start(ready=False) for _ in range(count)]
        for worker in started:
            worker.wait_ready()
        return started

    def terminate_all(self, timeout: float = 60) -> list[int]:
        """SIGTERM every running worker at once (once each has started: a process still
        importing has no handler yet); their exit codes."""
        running = [worker for worker in self.started if worker.process.poll() is None]
        for worker in running:
            if not worker.executor:
                worker.wait_ready()
        for worker in running:
            worker.process.send_signal(signal.SIGTERM)
        return [worker.process.wait(timeout=timeout) for worker in running]

    def close(self) -> None:
        for worker in self.started:
            worker.close()


@contextmanager
def workers(db_url: str, sim: SimProcess, folder: Path, **options: Any) -> Iterator[Workers]:
    pool = Workers(db_url, sim, folder, **options)
    with ExitStack() as stack:
        stack.callback(pool.close)
        yield pool


def read_with_retry(db_url: str, read: Callable[[Store], _T], *, within: float = 60) -> _T:
    """``read(store)`` on a fresh store, tried again while the database is away (restarting)."""
    deadline = time.monotonic() + within
    while True:
        try:
            with Store(db_url) as store:
                return read(store)
        except (StoreError, sa.exc.SQLAlchemyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def unfinished(db_url: str, batch: str) -> int:
    """Jobs of the batch not yet ``done``, ``failed``, ``rejected``, ``canceled`` or in review."""
    ended = (
        JobState.DONE,
        JobState.FAILED,
        JobState.REJECTED,
        JobState.CANCELED,
        JobState.NEEDS_REVIEW,
    )

    def count(store: Store) -> int:
        summary = store.batch_summary(batch)
        return summary.total - sum(summary.counts[state] for state in ended)

    return read_with_retry(db_url, count)


def wait_until(condition: Callable[[], bool], what: str, *, timeout: float) -> float:
    """Wait for ``condition``; return the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)
    return time.monotonic() - start


def executors_of(db_url: str) -> dict[str, str]:
    """Each job workflow's DBOS executor (the process that ran, or runs, it last), by id."""
    engine = sa.create_engine(db_url)
    table = "dbos.workflow_status" if engine.dialect.name == "postgresql" else "workflow_status"
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(f"SELECT workflow_uuid, executor_id FROM {table}")  # noqa: S608  # fixed
            ).all()
    finally:
        engine.dispose()
    return {str(workflow): str(executor) for workflow, executor in rows}


def check_finished(
    db_url: str, workspace: Workspace, batch: BatchFile, *, allow_failed: bool = False
) -> dict[str, JobRow]:
    """``engine_harness.check_batch`` for a database URL: every job ended as the simulator
    decided, none created twice, never over the cap, every done job's files verified against
    the simulator's checksums, and the ledger equal to the price of the done jobs."""

    def read(store: Store) -> tuple[dict[str, JobRow], Any, Any, dict[str, Any]]:
        jobs = {job.key: job for job in store.jobs(batch.name)}
        assets = {key: store.assets(job.id) for key, job in jobs.items()}
        return jobs, store.batch_summary(batch.name), store.cost_report(batch.name), assets

    jobs, summary, report, assets = read_with_retry(db_url, read)
    assert set(jobs) == set(batch.specs), "the store's jobs are not the batch's"
    check_outcome(workspace, batch, jobs, summary, report, assets, allow_failed=allow_failed)
    return jobs
