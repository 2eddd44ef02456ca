"""Baseline client: the original spec's loop, one job at a time, with plain httpx.

For each job in turn: create it, poll ``GET /videos/{id}`` every ``--poll-interval`` seconds
(30 simulated seconds) until it is done or ``--give-up`` seconds have passed (one simulated hour),
then download the video. Run by ``bench/batch_compare.py`` in its own process; the API key comes
from ``OPENAI_API_KEY``.

    python bench/_compare_original.py --jobs-file JOBS.json --base-url URL --out DIR \
        --poll-interval 0.75 --give-up 90
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

_UNFINISHED = {"queued", "in_progress"}


def _run_job(
    client: httpx.Client, job: dict[str, Any], out: Path, poll: float, give_up: float
) -> bool:
    body = {
        "model": job["model"],
        "prompt": job["prompt"],
        "seconds": str(job["seconds"]),
        "size": job["size"],
    }
    video = client.post("/videos", json=body).raise_for_status().json()
    deadline = time.monotonic() + give_up
    while video["status"] in _UNFINISHED and time.monotonic() < deadline:
        time.sleep(poll)
        video = client.get(f"/videos/{video['id']}").raise_for_status().json()
    if video["status"] != "completed":
        print(f"{job['key']}: {video['status']} {video.get('error')}", file=sys.stderr)
        return False
    dest = out / f"{job['key']}.mp4"
    with client.stream("GET", f"/videos/{video['id']}/content") as response:
        response.raise_for_status()
        with dest.open("wb") as file:
            for chunk in response.iter_bytes():
                file.write(chunk)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs-file", type=Path, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--poll-interval", type=float, required=True, help="real seconds")
    parser.add_argument("--give-up", type=float, required=True, help="real seconds per job")
    args = parser.parse_args()

    jobs: list[dict[str, Any]] = json.loads(args.jobs_file.read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    headers = {"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
    failed = 0
    with httpx.Client(base_url=args.base_url, headers=headers, timeout=60.0) as client:
        for job in jobs:
            try:
                ok = _run_job(client, job, args.out, args.poll_interval, args.give_up)
            except httpx.HTTPError as exc:
                print(f"{job['key']}: {exc!r}", file=sys.stderr)
                ok = False
            failed += not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
