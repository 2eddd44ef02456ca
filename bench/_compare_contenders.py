"""The contenders: how to start each one's client, and whether it can run here.

Each contender is a command run in its own process, so its CPU time and peak RSS are its own.
:func:`run_measured` starts it and reaps it with ``os.wait4`` to read exactly that process's
resource usage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _compare_jobs import BenchJob, write_batch_yaml, write_jobs_json

BENCH = Path(__file__).resolve().parent
API_KEY = "sk-bench"


@dataclass(frozen=True, kw_only=True, slots=True)
class Setup:
    """What a contender's command is built from."""

    jobs: list[BenchJob]
    base_url: str
    cap: int
    time_scale: float
    workdir: Path
    db_url: str | None = None
    """The database for ``reelforge run`` (default: a fresh SQLite file in ``workdir``)."""

    @property
    def out(self) -> Path:
        """Where the client writes videos."""
        return self.workdir / "out"


@dataclass(frozen=True, kw_only=True, slots=True)
class Contender:
    """A named client: its one-line description and how to build its command."""

    name: str
    summary: str
    command: Callable[[Setup], list[str]]
    unavailable: Callable[[], str | None] = lambda: None
    """A reason it cannot run here, or ``None``."""


def _original(setup: Setup) -> list[str]:
    jobs_file = write_jobs_json(setup.jobs, setup.workdir / "jobs.json")
    return [
        sys.executable,
        str(BENCH / "_compare_original.py"),
        "--jobs-file",
        str(jobs_file),
        "--base-url",
        setup.base_url,
        "--out",
        str(setup.out),
        "--poll-interval",
        str(30 / setup.time_scale),
        "--give-up",
        str(3600 / setup.time_scale),
    ]


def _sdk(setup: Setup) -> list[str]:
    jobs_file = write_jobs_json(setup.jobs, setup.workdir / "jobs.json")
    return [
        sys.executable,
        str(BENCH / "_compare_sdk.py"),
        "--jobs-file",
        str(jobs_file),
        "--base-url",
        setup.base_url,
        "--out",
        str(setup.out),
        "--cap",
        str(setup.cap),
    ]


def _reelforge(setup: Setup) -> list[str]:
    batch = write_batch_yaml(setup.jobs, setup.workdir / "batch.yaml")
    return [
        sys.executable,
        "-m",
        "reelforge",
        "run",
        str(batch),
        "--base-url",
        setup.base_url,
        "--max-in-flight",
        str(setup.cap),
        "--db",
        setup.db_url or f"sqlite:///{setup.workdir / 'db.sqlite'}",
        "--out",
        str(setup.out),
    ]


def _reelforge_unavailable() -> str | None:
    probe = subprocess.run(
        [sys.executable, "-m", "reelforge", "run", "--help"],
        capture_output=True,
        check=False,
        env=client_env(),
    )
    return None if probe.returncode == 0 else "not available (`reelforge run` does not exist yet)"


CONTENDERS = {
    contender.name: contender
    for contender in (
        Contender(
            name="original",
            summary="original spec: one job at a time, poll every 30 simulated s, plain httpx",
            command=_original,
        ),
        Contender(
            name="sdk",
            summary="openai SDK create_and_poll (default polling) under Semaphore(cap)",
            command=_sdk,
        ),
        Contender(
            name="reelforge",
            summary="`reelforge run` (durable engine) on a fresh SQLite file",
            command=_reelforge,
            unavailable=_reelforge_unavailable,
        ),
        Contender(
            name="reelforge-pg",
            summary="`reelforge run` (durable engine) on a fresh PostgreSQL database (--db)",
            command=_reelforge,
            unavailable=_reelforge_unavailable,
        ),
    )
}


def client_env() -> dict[str, str]:
    """The environment every client runs with: the bench key, no inherited base URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_API_KEY"] = API_KEY
    return env


@dataclass(frozen=True, kw_only=True, slots=True)
class Measured:
    """How one client process ended and what it used."""

    returncode: int
    wall: float
    cpu: float
    """User + system CPU seconds of the process (and any children it reaped)."""
    peak_rss_mib: float
    timed_out: bool


def run_measured(command: list[str], *, log: Path, timeout: float) -> Measured:
    """Run ``command`` to completion (killed after ``timeout`` s) and read its rusage."""
    started = time.perf_counter()
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=client_env(), cwd=log.parent
        )
    timed_out = False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            break
        if time.perf_counter() - started > timeout and not timed_out:
            timed_out = True
            process.send_signal(signal.SIGKILL)
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Measured(
        returncode=process.returncode,
        wall=time.perf_counter() - started,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,  # KiB on Linux
        timed_out=timed_out,
    )
