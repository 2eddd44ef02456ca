"""Synchronous wrappers for scripts that do not run an event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from reelforge.app.batchrun import BatchResult
from reelforge.app.forge import Forge
from reelforge.app.generate import GenerateResult, generate_database
from reelforge.batch import Batch, load_batch
from reelforge.core.config import Settings
from reelforge.core.models import JobSpec

__all__ = ["generate", "run"]


def generate(
    prompt: str,
    *,
    model: str = "sora-2",
    seconds: int = 4,
    size: str = "720x1280",
    input_reference: Path | None = None,
    labels: Mapping[str, str] | None = None,
    out: Path = Path("reelforge-out"),
    db: str | Path | None = None,
    base_url: str | None = None,
    simulator: bool | None = None,
) -> GenerateResult:
    """Generate one video and download its assets; blocks until done or failed.

    It runs as a one-job batch on the durable engine, recorded in ``db`` (or
    ``REELFORGE_DB_URL``) when one is given, else in a throwaway database removed when this
    returns. With no ``OPENAI_API_KEY`` and no ``base_url``, runs against the built-in
    simulator.
    """
    spec = JobSpec(
        prompt=prompt,
        model=model,
        seconds=seconds,
        size=size,
        input_reference=input_reference,
        labels=labels or {},
    )

    async def _run(where: str | Path) -> GenerateResult:
        async with Forge(base_url=base_url, simulator=simulator, out=out, db=where) as forge:
            return await forge.generate(spec, db=where)

    with generate_database(db if db is not None else Settings().reelforge_db_url) as where:
        return asyncio.run(_run(where))


def run(
    batch: Batch | Path | str,
    *,
    out: Path = Path("reelforge-out"),
    budget: Decimal | None = None,
    max_in_flight: int = 4,
    rpm: int | None = None,
    db: str | Path | None = None,
    base_url: str | None = None,
    simulator: bool | None = None,
) -> BatchResult:
    """Run a batch (or a batch file) to the end on the durable engine; blocks until it ends.

    Running the same batch again continues it and never submits a job twice.
    """
    loaded = batch if isinstance(batch, Batch) else load_batch(Path(batch))

    async def _run() -> BatchResult:
        async with Forge(
            base_url=base_url,
            simulator=simulator,
            out=out,
            db=db,
            max_in_flight=max_in_flight,
            rpm=rpm,
        ) as forge:
            return await forge.run(loaded, out=out, budget=budget)

    return asyncio.run(_run())
