"""Webhooks on vs off: the same 40-job batch run twice on one simulator, side by side.

``reelforge sim`` runs in its own process and sends its signed ``video.completed`` /
``video.failed`` webhooks to the served application (``reelforge.serve.build_app`` on a
loopback port, in this process). Each run is a real ``reelforge run`` process:

* **off** — no public URL, no webhook secret: the engine polls with its adaptive policy
  (aimed at the estimated finish, the server's ``openai-poll-after-ms`` hint as the earliest);
* **on** — ``REELFORGE_PUBLIC_URL`` and ``OPENAI_WEBHOOK_SECRET`` set: polling drops to the
  300 s safety net; each verified ``video.completed`` is recorded as the job's status and wakes
  its workflow, which applies it without asking the provider and starts the download.

The simulator runs in real time by default (``--time-scale 1``: a job takes 1.5 to 3.5
minutes, as on a live endpoint), because the engine's delays are real seconds: a compressed
clock would make polling look better than it is. The whole batch is in flight at once, so the
benchmark takes about 7 minutes.

Figures, per run, from ground truth:

* status requests per video: ``GET /v1/videos/{id}`` in the simulator's log, per job, split
  into those made before the job was known complete (polls) and after (reads by the download,
  which asks only when a file is missing);
* completion-detection lag: from the moment the simulator finished the video (its
  ``finished_at``, real time) to the ``completed`` event in reelforge's store, p50, p95, p99;
* the run's wall time.

Goals (issue 13): with webhooks, at most 0.2 status requests per video and a p50 lag of at most
1 s. Prints the figures and the command that reproduces them.

    python bench/webhooks_vs_polling.py [--jobs 40] [--time-scale 1] [--max-in-flight 40]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reelforge._serve import ThreadedServer
from reelforge.core.config import database_url
from reelforge.core.models import JobState
from reelforge.serve import ServeState, build_app
from reelforge.sim.log import api_key_id
from reelforge.store import EventKind, Store

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105  # the simulator docs' example
_SUBJECTS = (
    "a red kite over desert dunes",
    "a paper boat on a rainy street",
    "a lighthouse in a winter storm",
    "a fox crossing a frozen lake",
    "steam rising from a noodle bar",
)
_SECONDS = (4, 8, 12)
_DROPPED = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_WEBHOOK_SECRET",
    "REELFORGE_PUBLIC_URL",
    "REELFORGE_DB_URL",
)


@dataclass(frozen=True)
class Figures:
    label: str
    jobs: int
    done: int
    polls: int
    reads_after: int
    lags: list[float]
    wall: float

    def row(self) -> list[str]:
        lags = sorted(self.lags)
        p50 = statistics.median(lags) if lags else float("nan")
        p95 = _quantile(lags, 0.95)
        p99 = _quantile(lags, 0.99)
        return [
            self.label,
            f"{self.done}/{self.jobs}",
            f"{(self.polls + self.reads_after) / self.jobs:.2f}",
            f"{self.polls / self.jobs:.2f}",
            f"{p50:.2f} s",
            f"{p95:.2f} s",
            f"{p99:.2f} s",
            f"{max(lags):.2f} s" if lags else "-",
            f"{self.wall:.1f} s",
        ]


def _quantile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of ``ordered`` (nearest rank), NaN when it is empty."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in _DROPPED}
    env.update(extra)
    return env


def _batch(folder: Path, label: str, jobs: int) -> Path:
    lines = [
        json.dumps(
            {
                "key": f"shot-{i:03d}",
                "prompt": f"{label} shot {i:03d}: {_SUBJECTS[i % len(_SUBJECTS)]}, slow dolly in",
                "model": "sora-2",
                "seconds": _SECONDS[i % len(_SECONDS)],
                "size": "1280x720" if i % 2 else "720x1280",
            }
        )
        for i in range(jobs)
    ]
    path = folder / f"{label}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _start_sim(folder: Path, config: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    path = folder / "sim.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    process = subprocess.Popen(  # our own interpreter, fixed arguments
        [
            *(sys.executable, "-m", "reelforge", "sim", "--host", "127.0.0.1"),
            *("--port", str(port), "--config", str(path)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{root}/_sim/log", timeout=2).status_code == 200:
                return process, root
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the simulator did not start")


def _run(
    folder: Path, label: str, *, root: str, db: Path, jobs: int, cap: int, env: dict[str, str]
) -> float:
    command = [
        *(sys.executable, "-m", "reelforge", "run", str(_batch(folder, label, jobs))),
        *("--base-url", f"{root}/v1", "--db", str(db), "--out", str(folder / "out")),
        *("--max-in-flight", str(cap), "--json"),
    ]
    started = time.monotonic()
    done = subprocess.run(  # our own interpreter, fixed arguments
        command, env=env, cwd=folder, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"reelforge run ({label}) exited {done.returncode}:\n{done.stderr}")
    return time.monotonic() - started


def _figures(label: str, root: str, db: Path, key: str, wall: float) -> Figures:
    log = httpx.get(f"{root}/_sim/log", timeout=60).json()
    videos = httpx.get(f"{root}/_sim/videos", timeout=60).json()
    finished = {video["id"]: video["finished_at"] for video in videos}
    reads = [
        r
        for r in log["requests"]
        if r["api_key_id"] == api_key_id(key)
        and r["method"] == "GET"
        and r["path"].startswith("/v1/videos/")
        and r["path"].count("/") == 3
    ]
    store = Store(database_url(db))
    try:
        jobs = store.jobs(label)
        completed: dict[str, float] = {}
        lags: list[float] = []
        for job in jobs:
            seen = next(
                (
                    e.at
                    for e in store.history(job.id)
                    if e.kind is EventKind.STATE
                    and e.state in (JobState.COMPLETED, JobState.FAILED)
                ),
                None,
            )
            if job.remote_id is not None and seen is not None and job.remote_id in finished:
                completed[job.remote_id] = seen
                lags.append(max(0.0, seen - finished[job.remote_id]))
        done = sum(job.state is JobState.DONE for job in jobs)
    finally:
        store.close()
    by_video = Counter(
        "poll" if r["at"] <= completed.get(r["path"].rsplit("/", 1)[-1], float("inf")) else "read"
        for r in reads
    )
    return Figures(
        label=label,
        jobs=len(jobs),
        done=done,
        polls=by_video["poll"],
        reads_after=by_video["read"],
        lags=lags,
        wall=wall,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--max-in-flight", type=int, default=40)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="reelforge-bench-hooks-") as tmp:
        folder = Path(tmp)
        served_db = folder / "on.db"
        store = Store(database_url(served_db))
        store.migrate()
        os.environ["OPENAI_WEBHOOK_SECRET"] = SECRET
        state = ServeState(store=store, db_url=store.url)
        with ThreadedServer(build_app(state), label="reelforge serve") as server:
            config = {
                "time_scale": args.time_scale,
                "seed": args.seed,
                "expires_after": 10_000_000.0,
                "media_scale": 0.25,
                "webhooks": {"urls": [f"{server.url}/hooks/openai"], "secret": SECRET},
            }
            sim, root = _start_sim(folder, config)
            try:
                off_wall = _run(
                    folder,
                    "off",
                    root=root,
                    db=folder / "off.db",
                    jobs=args.jobs,
                    cap=args.max_in_flight,
                    env=_env(OPENAI_API_KEY="sk-bench-off"),
                )
                on_wall = _run(
                    folder,
                    "on",
                    root=root,
                    db=served_db,
                    jobs=args.jobs,
                    cap=args.max_in_flight,
                    env=_env(
                        OPENAI_API_KEY="sk-bench-on",
                        OPENAI_WEBHOOK_SECRET=SECRET,
                        REELFORGE_PUBLIC_URL=server.url,
                    ),
                )
                off = _figures("off", root, folder / "off.db", "sk-bench-off", off_wall)
                on = _figures("on", root, served_db, "sk-bench-on", on_wall)
            finally:
                sim.terminate()
                sim.wait(timeout=10)
                state.close()
                store.close()

    header = [
        "webhooks",
        "done",
        "status GETs/video",
        "before completion",
        "lag p50",
        "lag p95",
        "lag p99",
        "lag max",
        "wall",
    ]
    rows = [header, off.row(), on.row()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print(
        f"{args.jobs}-job sora-2 batch (4/8/12 s), simulator at time_scale {args.time_scale:g}, "
        f"--max-in-flight {args.max_in_flight}, seed {args.seed}"
    )
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(
        "status GETs/video: GET /v1/videos/{id} per video; 'before completion': those made "
        "until the job was known complete (polls), the rest are the download's reads."
    )
    print(
        "lag: from the simulator finishing the video to reelforge recording it completed "
        "(or failed)."
    )
    print(
        "reproduce: python bench/webhooks_vs_polling.py "
        f"--jobs {args.jobs} --time-scale {args.time_scale:g} "
        f"--max-in-flight {args.max_in_flight} --seed {args.seed}"
    )


if __name__ == "__main__":
    main()
