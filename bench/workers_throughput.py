"""Orchestration throughput with 1, 2, … ``reelforge worker`` processes on one database.

Instant jobs: a standalone ``reelforge sim`` at a very high time scale (2000x: a 12-second
video is ready in about 0.1 s; its assets kept for an hour of real time; its media rendered
as small as it goes) and a high in-flight cap, so what is measured is the orchestration
itself (dequeue, admission, create, polls, download, the durable steps), not the provider.
For each worker count N, on a fresh database (PostgreSQL with ``--db URL``, or SQLite with
``--db sqlite``):

1. ``reelforge run BATCH --detach`` records and enqueues the batch and returns (timed);
2. N ``reelforge worker --concurrency C`` processes start together and run it;
3. the batch's state is read every 0.2 s until every job has ended; the workers are then
   stopped (SIGTERM) and reaped with ``os.wait4``, so their CPU time is their own.

Figures per worker count: jobs done, wall from the workers' start to the last job's end,
jobs/second over that wall and over the steady part (first job ended → last job ended), the
workers' CPU seconds per 1,000 jobs (all workers together), the speed-up against one worker,
the largest worker's peak RSS, the simulator's CPU seconds per 1,000 jobs, and how busy the
machine's cores were meanwhile (``/proc/stat``: every process, the database server's too): a
machine near 100% cannot go faster with more workers. Needs ``reelforge worker`` and
``reelforge run --detach``.

    python bench/workers_throughput.py --db postgresql://reelforge@127.0.0.1:55436/ \
        [--jobs 400] [--workers 1,2] [--cap 64] [--concurrency 32] [--time-scale 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_pg import fresh_database, masked
from _compare_contenders import client_env
from _compare_jobs import make_jobs, write_batch_yaml
from _compare_sim import SimProcess

from reelforge.core.models import JobState
from reelforge.engine.outcome import FINAL
from reelforge.store import Store

_DEFAULTS = {"jobs": 400, "workers": "1,2", "cap": 64, "concurrency": 32, "time_scale": 2000.0}
_BATCH = "bench"
_RUN = (sys.executable, "-m", "reelforge", "run")


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """One worker count's run."""

    workers: int
    enqueue_s: float
    done: int
    ended: int
    wall: float
    steady: float
    cpu: float
    peak_rss_mib: float
    sim_cpu: float = 0.0
    """The simulator's CPU seconds while the workers ran (it shares the machine's cores)."""
    busy: float = 0.0
    """The whole machine's CPU use while the workers ran, 0-1 of all its cores (every process:
    workers, simulator, database server, anything else running)."""
    note: str = ""


def missing_commands() -> str | None:
    """Why this benchmark cannot run here (no ``reelforge worker`` or ``run --detach``)."""
    env = client_env()
    worker = subprocess.run(
        [sys.executable, "-m", "reelforge", "worker", "--help"],
        capture_output=True,
        check=False,
        env=env,
    )
    run = subprocess.run(
        [sys.executable, "-m", "reelforge", "run", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if worker.returncode != 0:
        return "needs `reelforge worker` (not in this reelforge)"
    if "--detach" not in run.stdout:
        return "needs `reelforge run FILE --detach` (not in this reelforge)"
    return None


def _counts(store: Store) -> tuple[int, int, int]:
    summary = store.batch_summary(_BATCH)
    ended = sum(summary.counts[state] for state in FINAL)
    return summary.total, ended, summary.counts[JobState.DONE]


def _stop(processes: list[subprocess.Popen[bytes]]) -> tuple[float, float]:
    """SIGTERM every worker, reap each with ``wait4``; their CPU seconds and largest peak RSS."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    cpu, peak = 0.0, 0.0
    deadline = time.monotonic() + 30
    for process in processes:
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid == process.pid:
                break
            if time.monotonic() > deadline:
                process.kill()
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        peak = max(peak, usage.ru_maxrss / 1024)
    return cpu, peak


def run_one(args: argparse.Namespace, workers: int, root: Path) -> Outcome:
    """Enqueue the batch detached, then run it with ``workers`` worker processes."""
    workdir = root / f"w{workers}"
    workdir.mkdir()
    batch = write_batch_yaml(make_jobs(args.jobs, args.seed), workdir / "batch.yaml")
    config = {
        "time_scale": args.time_scale,
        "seed": args.seed,
        "faults": {"max_in_flight": args.cap},
        "expires_after": 3600 * args.time_scale,  # an hour of real time: nothing expires
        # The smallest media the simulator renders (a valid MP4 still): at its defaults it
        # spends more CPU per job than a worker, on the same cores.
        "media_scale": 0.05,
        "fps": 1,
    }
    with contextlib.ExitStack() as stack:
        if args.db == "sqlite":
            db_url = f"sqlite:///{workdir / 'db.sqlite'}"
        else:
            db_url = stack.enter_context(fresh_database(args.db))
        sim = stack.enter_context(SimProcess(config, workdir))
        common = ["--db", db_url, "--base-url", sim.base_url, "--max-in-flight", str(args.cap)]
        env = client_env()
        started = time.perf_counter()
        enqueue = subprocess.run(
            [*_RUN, str(batch), "--detach", "--out", str(workdir / "out"), *common],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            cwd=workdir,
        )
        enqueue_s = time.perf_counter() - started
        if enqueue.returncode != 0:
            tail = " / ".join(enqueue.stderr.strip().splitlines()[-3:])
            return Outcome(
                workers=workers,
                enqueue_s=enqueue_s,
                done=0,
                ended=0,
                wall=0.0,
                steady=0.0,
                cpu=0.0,
                peak_rss_mib=0.0,
                note=f"run --detach exited {enqueue.returncode}: {tail}",
            )
        store = stack.enter_context(contextlib.closing(Store(db_url)))
        command = [sys.executable, "-m", "reelforge", "worker", *common]
        if args.concurrency:
            command += ["--concurrency", str(args.concurrency)]
        processes = []
        sim_before, machine_before = _process_cpu(sim.pid), _machine_cpu()
        started = time.perf_counter()
        for index in range(workers):
            log = (workdir / f"worker-{index}.log").open("wb")
            stack.callback(log.close)
            processes.append(
                subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir
                )
            )
        ended, done, first_end, note = _watch(store, processes, timeout=args.timeout)
        last_end = time.perf_counter()
        sim_cpu = _process_cpu(sim.pid) - sim_before
        busy = _busy(machine_before, _machine_cpu())
        cpu, peak = _stop(processes)
        if done < ended:
            errors = Counter(
                f"{job.state.value} ({job.category.value if job.category else '-'}): {job.error}"
                for job in store.jobs(_BATCH)
                if job.state is not JobState.DONE
            )
            note = "; ".join(f"{n} x {text[:160]}" for text, n in errors.most_common(3))
    return Outcome(
        workers=workers,
        enqueue_s=enqueue_s,
        done=done,
        ended=ended,
        wall=last_end - started,
        steady=last_end - (first_end or started),
        cpu=cpu,
        peak_rss_mib=peak,
        sim_cpu=sim_cpu,
        busy=busy,
        note=note,
    )


def _watch(
    store: Store, processes: list[subprocess.Popen[bytes]], *, timeout: float
) -> tuple[int, int, float | None, str]:
    """Read the batch's state every 0.2 s until every job ended (or the workers all exited,
    or ``timeout`` seconds passed): jobs ended and done, when the first ended, and why it
    stopped early (empty when it did not)."""
    first_end: float | None = None
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        total, ended, done = _counts(store)
        if ended and first_end is None:
            first_end = time.perf_counter()
        if ended >= total:
            return ended, done, first_end, ""
        if all(p.poll() is not None for p in processes):
            return ended, done, first_end, "every worker exited before the batch ended"
        time.sleep(0.2)
    total, ended, done = _counts(store)
    return ended, done, first_end, f"stopped after {timeout:.0f} s"


def _process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far, from ``/proc``."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores so far, from ``/proc/stat``."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def _busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL server URL, or 'sqlite'")
    parser.add_argument("--jobs", type=int, default=_DEFAULTS["jobs"])
    parser.add_argument("--workers", default=_DEFAULTS["workers"], help="comma-separated counts")
    parser.add_argument("--cap", type=int, default=_DEFAULTS["cap"], help="account in-flight cap")
    parser.add_argument(
        "--concurrency", type=int, default=_DEFAULTS["concurrency"], help="per worker (0: none)"
    )
    parser.add_argument("--time-scale", type=float, default=_DEFAULTS["time_scale"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900.0, help="real seconds per count")
    args = parser.parse_args(argv)
    args.worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    if not args.worker_counts or min(args.worker_counts) < 1 or args.jobs < 1:
        parser.error("--workers and --jobs must be positive")
    return args


def _reproduce(args: argparse.Namespace) -> str:
    parts = [
        "python bench/workers_throughput.py",
        f"--db {masked(args.db) if args.db != 'sqlite' else 'sqlite'}",
    ]
    for flag, key in (("--jobs", "jobs"), ("--workers", "workers"), ("--cap", "cap")):
        if getattr(args, key) != _DEFAULTS[key]:
            parts.append(f"{flag} {getattr(args, key)}")
    if args.concurrency != _DEFAULTS["concurrency"]:
        parts.append(f"--concurrency {args.concurrency}")
    if args.time_scale != _DEFAULTS["time_scale"]:
        parts.append(f"--time-scale {args.time_scale:g}")
    return " ".join(parts)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    reason = missing_commands()
    if reason is not None:
        print(f"workers_throughput: {reason}; nothing measured.", file=sys.stderr)
        sys.exit(2)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="reelforge-workers-") as tmp:
        for count in args.worker_counts:
            outcome = run_one(args, count, Path(tmp))
            outcomes.append(outcome)
            print(f"  {count} worker(s): {outcome}", file=sys.stderr, flush=True)
    backend = "SQLite" if args.db == "sqlite" else "PostgreSQL"
    print(
        f"{args.jobs} instant sora-2 jobs on {backend} (simulator at {args.time_scale:g}x, "
        f"cap {args.cap}, --concurrency {args.concurrency or 'unset'} per worker)."
    )
    print()
    header = (
        "workers | enqueue (s) | jobs done / ended | wall (s) | jobs/s | steady jobs/s | "
        "speed-up | CPU s per 1k jobs | largest peak RSS (MiB) | simulator CPU s per 1k jobs | "
        "machine busy"
    )
    print(f"| {header} |")
    print("|" + "---|" * (header.count("|") + 1))
    base = None
    for o in outcomes:
        rate = o.ended / o.wall if o.wall else 0.0
        steady = (o.ended - 1) / o.steady if o.steady and o.ended > 1 else 0.0
        base = base or rate
        cells = [
            str(o.workers),
            f"{o.enqueue_s:.1f}",
            f"{o.done} / {o.ended}",
            f"{o.wall:.1f}",
            f"{rate:.1f}",
            f"{steady:.1f}",
            f"{rate / base:.2f}x" if base else "—",
            f"{o.cpu * 1000 / max(o.ended, 1):.0f}",
            f"{o.peak_rss_mib:.0f}",
            f"{o.sim_cpu * 1000 / max(o.ended, 1):.0f}",
            f"{o.busy:.0%}",
        ]
        print("| " + " | ".join(cells) + " |" + (f" {o.note}" if o.note else ""))
    print()
    print(f"reproduce: {_reproduce(args)}")


if __name__ == "__main__":
    main()
