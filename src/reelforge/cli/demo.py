"""``reelforge demo``: a dozen ad variations on the built-in simulator, with live progress."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from reelforge.app.batchrun import BatchResult, run_batch
from reelforge.app.demo import demo_batch
from reelforge.app.forge import Forge
from reelforge.cli._common import ExitCode, err_console, out_console, print_json, reelforge_errors
from reelforge.cli.live import BatchView, summary_table
from reelforge.cli.run import result_dict
from reelforge.core.models import JobState

__all__ = ["demo"]


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the videos.")] = Path("reelforge-out"),
    max_in_flight: Annotated[int, typer.Option(min=1, max=32, help="Videos generated at once.")] = (
        4
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Generate a demo batch of twelve ad variations on the simulator (free, offline).

    It runs on the durable engine like any batch, with a throwaway database: the simulator
    lives in this process, so there is nothing to resume afterwards.
    """
    started = time.monotonic()
    with reelforge_errors(), tempfile.TemporaryDirectory(prefix="reelforge-demo-") as tmp:
        forge = Forge(
            simulator=True, out=out, db=Path(tmp) / "demo.db", max_in_flight=max_in_flight
        )
        result = asyncio.run(_run(forge, out, live=not as_json))
    elapsed = time.monotonic() - started
    if as_json:
        print_json(result_dict(result))
    else:
        out_console.print(summary_table(result.jobs, title="reelforge demo"))
        out_console.print(
            f"{_done(result)}/{result.summary.total} videos done in {elapsed:.1f} s, "
            f"in {result.out_dir}/ (each: video.mp4, thumbnail.webp, spritesheet.jpg, job.json); "
            f"simulated cost ${result.summary.actual:.2f}, billed $0.00."
        )
    raise typer.Exit(int(ExitCode.OK if result.ok else ExitCode.FAILED))


def _done(result: BatchResult) -> int:
    return result.count(JobState.DONE)


async def _run(forge: Forge, out: Path, *, live: bool) -> BatchResult:
    batch = demo_batch()
    async with forge:
        err_console.print(
            f"Using the built-in simulator at {forge.base_url}: {len(batch)} videos, "
            f"{forge.max_in_flight} at a time, into {out / batch.name}/"
        )
        async with forge.engine() as engine:
            if not live:
                return await run_batch(engine, batch, out=out)
            view = BatchView(engine.store, batch.name, console=err_console)
            with view.live:
                return await run_batch(engine, batch, out=out, on_update=view.update)
