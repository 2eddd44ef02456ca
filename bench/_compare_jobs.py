"""The benchmark's job list: a seeded mix of sora-2 jobs, written for each contender's client.

Every contender gets the same list (the original-spec contender may take only its first jobs):
as JSON for the baseline clients, as a batch YAML for ``reelforge run``.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

MODEL = "sora-2"
SECONDS = (4, 8, 12)
SIZES = ("720x1280", "1280x720")
_SUBJECTS = (
    "a red kite over desert dunes at dawn",
    "a paper boat drifting down a rainy street",
    "a barista pouring latte art in slow motion",
    "a fox crossing a snowy birch forest",
    "neon signs reflected in a puddle at night",
    "a sailboat tacking in a stiff breeze",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class BenchJob:
    """One job of the benchmark batch; ``key`` is unique and part of the prompt."""

    key: str
    prompt: str
    model: str
    seconds: int
    size: str


def make_jobs(count: int, seed: int) -> list[BenchJob]:
    """``count`` jobs with seconds 4/8/12 and both sizes, drawn from ``seed``."""
    rng = random.Random(f"{seed}:batch-compare:jobs")
    jobs = []
    for index in range(1, count + 1):
        key = f"clip-{index:05d}"
        subject = rng.choice(_SUBJECTS)
        jobs.append(
            BenchJob(
                key=key,
                prompt=f"{subject.capitalize()} (take {key})",
                model=MODEL,
                seconds=rng.choice(SECONDS),
                size=rng.choice(SIZES),
            )
        )
    return jobs


def write_jobs_json(jobs: list[BenchJob], path: Path) -> Path:
    """The list as a JSON array of objects, for the baseline clients."""
    path.write_text(json.dumps([asdict(job) for job in jobs], indent=1), encoding="utf-8")
    return path


def write_batch_yaml(jobs: list[BenchJob], path: Path) -> Path:
    """The list as a reelforge batch file: ``defaults: {model}`` and ``jobs: [...]``."""
    document = {
        "batch": "bench",
        "defaults": {"model": MODEL},
        "jobs": [
            {"prompt": job.prompt, "seconds": job.seconds, "size": job.size, "key": job.key}
            for job in jobs
        ],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
