"""Baseline client: the official ``openai`` SDK, ``cap`` jobs at a time.

Each job is ``client.videos.create_and_poll(...)`` with the SDK's default polling (it waits
``openai-poll-after-ms`` when the server sends it, else one second), under an
``asyncio.Semaphore(cap)``, then ``download_content`` of the video. Run by
``bench/batch_compare.py`` in its own process; the API key comes from ``OPENAI_API_KEY``.

    python bench/_compare_sdk.py --jobs-file JOBS.json --base-url URL --out DIR --cap 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import openai
from openai import AsyncOpenAI


async def _run_job(
    client: AsyncOpenAI, gate: asyncio.Semaphore, job: dict[str, Any], out: Path
) -> bool:
    async with gate:
        try:
            video = await client.videos.create_and_poll(
                model=job["model"],
                prompt=job["prompt"],
                seconds=str(job["seconds"]),  # type: ignore[arg-type]  # "4" | "8" | "12"
                size=job["size"],
            )
            if video.status != "completed":
                print(f"{job['key']}: {video.status} {video.error}", file=sys.stderr)
                return False
            content = await client.videos.download_content(video.id)
        except openai.OpenAIError as exc:
            print(f"{job['key']}: {exc!r}", file=sys.stderr)
            return False
    await asyncio.to_thread(content.write_to_file, out / f"{job['key']}.mp4")
    return True


async def _run(jobs: list[dict[str, Any]], base_url: str, out: Path, cap: int) -> int:
    gate = asyncio.Semaphore(cap)
    async with AsyncOpenAI(base_url=base_url) as client:  # key from OPENAI_API_KEY
        results = await asyncio.gather(*(_run_job(client, gate, job, out) for job in jobs))
    return sum(not ok for ok in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs-file", type=Path, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cap", type=int, required=True)
    args = parser.parse_args()

    # The SDK marks its Sora helpers deprecated (the hosted API closed); the wire protocol lives on.
    warnings.simplefilter("ignore", DeprecationWarning)
    jobs: list[dict[str, Any]] = json.loads(args.jobs_file.read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    failed = asyncio.run(_run(jobs, args.base_url, args.out, args.cap))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
