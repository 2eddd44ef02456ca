"""The floor under reelforge's orchestration cost: DBOS Transact alone, running workflows of a
job's shape whose steps do nothing.

Each job of ``reelforge run`` is one durable workflow, dequeued from a queue partitioned by
account (at most ``--cap`` at once), that records an admission step, a submit step, a few
(wait → poll) rounds — each wait a ``recv`` with a timeout, each poll a step — and then starts
its download as a child workflow of one step. This script runs ``--jobs`` workflows of exactly
that shape, and of smaller shapes, on a fresh SQLite file (or a fresh PostgreSQL database with
``--db``), with steps that only return a small value: no HTTP, no reelforge tables, no files.
What it measures is what DBOS's own bookkeeping costs per job of each shape, the part of
reelforge's CPU per 1,000 jobs that fewer durable operations could remove and nothing else can.

Each shape runs in a process of its own (``os.wait4`` gives its CPU seconds, start-up
included; a run of one workflow measures the start-up, which is subtracted):

- ``workflow``: a workflow of no step, enqueued and dequeued;
- ``steps``: + admit and submit steps;
- ``job``: + 3 (recv with a 10 ms timeout → poll step) rounds, and a child download workflow
  of one step — the shape of a job that is checked three times.

    python bench/dbos_floor.py [--jobs 1000] [--cap 16] [--polls 3] [--db postgresql://…/]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench_pg import fresh_database
from dbos import DBOS, SetEnqueueOptions, SetWorkflowID

_SHAPES = ("workflow", "steps", "job")
_WAIT = 0.01


def _child(shape: str, jobs: int, cap: int, polls: int, db_url: str) -> None:
    """Run ``jobs`` workflows of ``shape`` in this process and print the wall seconds."""
    DBOS(
        config={
            "name": "dbos-floor",
            "system_database_url": db_url,
            "log_level": "WARNING",
            "notification_listener_polling_interval_sec": 0.25,
        }
    )

    @DBOS.step(name="floor.step")
    async def step(job: str, n: int) -> dict[str, object]:
        return {"state": "in_progress", "job": job, "n": n}

    @DBOS.workflow(name="floor.download")
    async def download(job: str) -> str:
        await step(job, -1)
        return "done"

    @DBOS.workflow(name="floor.job")
    async def job_workflow(job: str) -> str:
        if shape == "workflow":
            return "done"
        await step(job, 0)  # admit
        await step(job, 1)  # submit
        if shape == "steps":
            return "done"
        for n in range(polls):
            await DBOS.recv_async("wake", timeout_seconds=_WAIT)
            await step(job, 2 + n)  # poll
        with SetWorkflowID(f"{job}.download"):
            await DBOS.start_workflow_async(download, job)
        return "done"

    async def main() -> float:
        DBOS.launch()
        queue = await DBOS.register_queue_async(
            "floor", partition_concurrency=cap, polling_interval_sec=0.05
        )
        started = time.perf_counter()
        handles = []
        for index in range(jobs):
            with SetWorkflowID(f"job-{index}"), SetEnqueueOptions(queue_partition_key="acct"):
                handles.append(await queue.enqueue_async(job_workflow, f"job-{index}"))
        for handle in handles:
            await handle.get_result()
        if shape == "job":
            for index in range(jobs):
                handle = await DBOS.retrieve_workflow_async(f"job-{index}.download")
                await handle.get_result()
        return time.perf_counter() - started

    wall = asyncio.run(main())
    DBOS.destroy()
    print(f"{wall:.3f}")


def _measure(shape: str, jobs: int, args: argparse.Namespace, root: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process running ``jobs`` workflows."""
    with fresh_database(args.db) if args.db else _sqlite(root, shape, jobs) as db_url:
        command = [sys.executable, __file__, "--child", shape, "--jobs", str(jobs)]
        command += ["--cap", str(args.cap), "--polls", str(args.polls), "--db", db_url]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        assert process.stdout is not None
        output = process.stdout.read().strip()
        if os.waitstatus_to_exitcode(status) != 0 or not output:
            raise SystemExit(f"{shape}: the run failed (exit {status})")
        return usage.ru_utime + usage.ru_stime, float(output.splitlines()[-1])


class _sqlite:
    def __init__(self, root: Path, shape: str, jobs: int) -> None:
        self.url = f"sqlite:///{root / f'{shape}-{jobs}.sqlite'}"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--cap", type=int, default=16, help="workflows running at once")
    parser.add_argument("--polls", type=int, default=3, help="(wait → poll) rounds per job")
    parser.add_argument("--db", help="a PostgreSQL server URL (default: SQLite files)")
    parser.add_argument("--child", choices=_SHAPES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.jobs, args.cap, args.polls, args.db)
        return
    backend = "PostgreSQL" if args.db else "SQLite"
    print(f"DBOS alone on {backend}: {args.jobs} workflows per shape, {args.cap} at once")
    print(f"{'shape':<10} {'CPU-s/1k jobs':>14} {'wall s':>8} {'start-up CPU-s':>15}")
    with tempfile.TemporaryDirectory(prefix="dbos-floor-") as tmp:
        root = Path(tmp)
        for shape in _SHAPES:
            base_cpu, _ = _measure(shape, 1, args, root)
            cpu, wall = _measure(shape, args.jobs, args, root)
            per_1k = (cpu - base_cpu) / (args.jobs - 1) * 1000
            print(f"{shape:<10} {per_1k:>14.1f} {wall:>8.1f} {base_cpu:>15.2f}")
    again = "python bench/dbos_floor.py " + " ".join(
        part for part in (f"--jobs {args.jobs}", f"--cap {args.cap}", f"--polls {args.polls}")
    )
    print(f"reproduce: {again}" + (f" --db {args.db}" if args.db else ""))


if __name__ == "__main__":
    main()
