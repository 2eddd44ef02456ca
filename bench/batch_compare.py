"""Batch throughput: reelforge's durable engine against two baselines on the simulator.

Each contender runs the same seeded batch against a fresh ``reelforge sim`` in its own process
(same seed and config; the server enforces ``max_in_flight = --cap``), as a separate client
process whose CPU time and peak RSS are measured with ``os.wait4``. The figures come from the
simulator's ground truth (its request log and each job's timing), not from the clients:

- makespan ÷ ideal: the ideal packs each job's generation time (queue wait excluded) into
  ``cap`` slots, longest first;
- status requests per video: ``GET /v1/videos/{id}`` count ÷ jobs;
- completion-detection lag: first successful status GET after a job finished, minus the finish;
- CPU seconds per 1,000 jobs (scaled linearly) and peak RSS (as measured).

``--db postgresql://USER@HOST:PORT/`` adds the ``reelforge-pg`` contender: the same
``reelforge run`` on a fresh database of that server (created and dropped per run), so both
backends are measured side by side with the baselines in one run.

Prints a Markdown table and the command that reproduces it.

    python bench/batch_compare.py [--jobs 40] [--time-scale 40] [--no-hints] [--cap 4] \
        [--seed 7] [--contenders original,sdk,reelforge] [--original-jobs 12] \
        [--db postgresql://reelforge@127.0.0.1:55436/]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _bench_pg import fresh_database, masked
from _compare_contenders import CONTENDERS, Measured, Setup, run_measured
from _compare_figures import Figures, compute, percentile
from _compare_jobs import BenchJob, make_jobs
from _compare_sim import SimProcess

_DEFAULTS = {
    "jobs": 40,
    "time_scale": 40.0,
    "cap": 4,
    "seed": 7,
    "original_jobs": 12,
    "contenders": "original,sdk,reelforge",
}
_WITH_DB = "original,sdk,reelforge,reelforge-pg"
"""The default contenders when ``--db`` names a PostgreSQL server."""
_LONGEST_JOB = 210.0
"""Simulated seconds of the longest sora-2 job at the simulator's defaults (12 s, +15% jitter)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Row:
    """One contender's outcome: figures and usage, or why it has none."""

    name: str
    figures: Figures | None = None
    measured: Measured | None = None
    note: str | None = None


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=_DEFAULTS["jobs"], help="jobs in the batch")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=_DEFAULTS["time_scale"],
        help="simulated seconds per real second",
    )
    parser.add_argument(
        "--no-hints", action="store_true", help="the server sends no openai-poll-after-ms"
    )
    parser.add_argument("--cap", type=int, default=_DEFAULTS["cap"], help="max videos in flight")
    parser.add_argument("--seed", type=int, default=_DEFAULTS["seed"], help="jobs and simulator")
    parser.add_argument(
        "--contenders",
        default=None,
        help=f"comma-separated, from: {', '.join(CONTENDERS)} (default: {_DEFAULTS['contenders']}, "
        "and reelforge-pg with --db)",
    )
    parser.add_argument(
        "--db",
        default=None,
        help="a PostgreSQL server URL (postgresql://USER@HOST:PORT/) for the reelforge-pg "
        "contender: each run gets a fresh database on it",
    )
    parser.add_argument(
        "--original-jobs",
        type=int,
        default=_DEFAULTS["original_jobs"],
        help="the sequential original-spec contender runs only the batch's first N jobs",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="real seconds before a contender is killed (default: three times a slow run)",
    )
    args = parser.parse_args(argv)
    if args.contenders is None:
        args.contenders = _WITH_DB if args.db else _DEFAULTS["contenders"]
    args.contenders = [name.strip() for name in args.contenders.split(",") if name.strip()]
    unknown = [name for name in args.contenders if name not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contender(s) {', '.join(unknown)}; known: {', '.join(CONTENDERS)}")
    if args.jobs < 1 or args.cap < 1 or args.original_jobs < 1 or args.time_scale <= 0:
        parser.error("--jobs, --cap, --original-jobs and --time-scale must be positive")
    if "reelforge-pg" in args.contenders and not args.db:
        parser.error("the reelforge-pg contender needs --db postgresql://USER@HOST:PORT/")
    return args


def _sim_config(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "time_scale": args.time_scale,
        "seed": args.seed,
        "faults": {"max_in_flight": args.cap},
        "poll_after_hint": not args.no_hints,
    }


def _timeout(jobs: int, slots: int, time_scale: float) -> float:
    """Three times a run in which every job is the longest one, plus a minute to start."""
    return 60 + 3 * math.ceil(jobs / slots) * _LONGEST_JOB / time_scale


def _videos_on_disk(out: Path) -> int:
    return sum(1 for path in out.rglob("*.mp4") if path.stat().st_size > 0)


def _run_one(name: str, jobs: list[BenchJob], args: argparse.Namespace, root: Path) -> Row:
    contender = CONTENDERS[name]
    reason = contender.unavailable()
    if reason is not None:
        return Row(name=name, note=reason)
    workdir = root / name
    workdir.mkdir()
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(fresh_database(args.db)) if name == "reelforge-pg" else None
        sim = stack.enter_context(SimProcess(_sim_config(args), workdir))
        setup = Setup(
            jobs=jobs,
            base_url=sim.base_url,
            cap=args.cap,
            time_scale=args.time_scale,
            workdir=workdir,
            db_url=db_url,
        )
        log = workdir / "client.log"
        slots = 1 if name == "original" else args.cap
        timeout = args.timeout or _timeout(len(jobs), slots, args.time_scale)
        measured = run_measured(contender.command(setup), log=log, timeout=timeout)
        truth = sim.truth()
    figures = compute(truth, jobs=len(jobs), cap=args.cap, files=_videos_on_disk(setup.out))
    note = None
    if measured.timed_out:
        note = f"killed after {timeout:.0f} s"
    elif measured.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        note = f"exit {measured.returncode}: " + " / ".join(tail)
    return Row(name=name, figures=figures, measured=measured, note=note)


def _seconds(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"


_HEADER = (
    "contender",
    "jobs done / failed",
    "videos on disk",
    "makespan ÷ ideal",
    "makespan / ideal (s)",
    "status GETs per video",
    "lag p50 / p99 (s)",
    "creates (dup)",
    "max in flight",
    "429s",
    "CPU s per 1k jobs",
    "peak RSS (MiB)",
    "wall (s)",
)


def _cells(row: Row) -> list[str]:
    figures, measured = row.figures, row.measured
    if figures is None or measured is None:
        return [row.name, row.note or "—", *["—"] * (len(_HEADER) - 2)]
    p50, p99 = percentile(figures.lags, 0.50), percentile(figures.lags, 0.99)
    return [
        row.name,
        f"{figures.done} / {figures.failed}",
        str(figures.files),
        f"{figures.ratio:.2f}",
        f"{figures.makespan:.1f} / {figures.ideal:.1f}",
        f"{figures.status_per_video:.1f}",
        f"{_seconds(p50)} / {_seconds(p99)}",
        f"{figures.creates} ({figures.duplicate_creates})",
        str(figures.max_in_flight),
        str(figures.rate_limited),
        f"{measured.cpu * 1000 / figures.jobs:.0f}",
        f"{measured.peak_rss_mib:.0f}",
        f"{measured.wall:.1f}",
    ]


def _print_table(rows: list[Row]) -> None:
    print("| " + " | ".join(_HEADER) + " |")
    print("|" + "---|" * len(_HEADER))
    for row in rows:
        print("| " + " | ".join(_cells(row)) + " |")


def _reproduce(args: argparse.Namespace) -> str:
    parts = ["python bench/batch_compare.py"]
    for flag, key in (
        ("--jobs", "jobs"),
        ("--time-scale", "time_scale"),
        ("--cap", "cap"),
        ("--seed", "seed"),
        ("--original-jobs", "original_jobs"),
    ):
        value = getattr(args, key)
        if value != _DEFAULTS[key]:
            parts.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    if args.no_hints:
        parts.append("--no-hints")
    contenders = ",".join(args.contenders)
    if contenders != (_WITH_DB if args.db else _DEFAULTS["contenders"]):
        parts.append(f"--contenders {contenders}")
    if args.db:
        parts.append(f"--db {masked(args.db)}")
    return " ".join(parts)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    jobs = make_jobs(args.jobs, args.seed)
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="reelforge-bench-") as tmp:
        for name in args.contenders:
            batch = jobs[: args.original_jobs] if name == "original" else jobs
            rows.append(_run_one(name, batch, args, Path(tmp)))
    wall = time.perf_counter() - started

    hints = "without poll-after hints" if args.no_hints else "with openai-poll-after-ms hints"
    print(
        f"Batch of {args.jobs} sora-2 jobs (seed {args.seed}; 4/8/12 s, both sizes), "
        f"cap {args.cap} in flight, simulator at {args.time_scale:g}x {hints}."
    )
    print()
    _print_table(rows)
    print()
    for row in rows:
        print(f"- {row.name}: {CONTENDERS[row.name].summary}.")
        if row.name == "original" and args.original_jobs < args.jobs:
            print(f"  It ran only the first {args.original_jobs} jobs (--original-jobs).")
        if row.note is not None and row.figures is not None:
            print(f"  Note: {row.note}")
    print(
        "- ideal: each job's generation time (queue wait excluded) packed into "
        f"{args.cap} slots, longest first; times are real seconds from the simulator's log "
        f"(times {args.time_scale:g} for simulated seconds)."
    )
    floors = [f"{r.name} {r.figures.floor:.2f}" for r in rows if r.figures is not None]
    if floors:
        print(
            "- floor: packing queue wait + generation instead gives the best makespan ÷ ideal "
            f"any client could reach on these servers: {', '.join(floors)}."
        )
    print(f"- total wall time {wall:.0f} s.")
    print()
    print(f"reproduce: {_reproduce(args)}")


if __name__ == "__main__":
    main()
