"""``reelforge demo``: a dozen ad variations on the built-in simulator, with live progress."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from reelforge.app.demo import demo_jobs
from reelforge.app.forge import Forge
from reelforge.app.generate import GenerateEvent, GenerateResult, Phase
from reelforge.cli._common import ExitCode, err_console, out_console, print_json, reelforge_errors
from reelforge.core.models import JobSpec, RemoteState, Variant

__all__ = ["demo"]


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the videos.")] = Path("reelforge-out"),
    max_in_flight: Annotated[int, typer.Option(min=1, max=32, help="Videos generated at once.")] = (
        4
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Generate a demo batch of twelve ad variations on the simulator (free, offline)."""
    jobs = demo_jobs()
    with reelforge_errors():
        forge = Forge(simulator=True, out=out / "demo")
        started = time.monotonic()
        results = asyncio.run(_run(forge, jobs, max_in_flight, show_progress=not as_json))
    elapsed = time.monotonic() - started
    if as_json:
        print_json(
            [
                {
                    "key": r.job_id,
                    "state": r.state.value,
                    "dir": str(r.job_dir),
                    "cost": str(r.cost) if r.cost is not None else None,
                }
                for r in results
            ]
        )
    else:
        _summary(results, elapsed, forge.out)
    raise typer.Exit(int(ExitCode.OK if all(r.ok for r in results) else ExitCode.FAILED))


async def _run(
    forge: Forge, jobs: list[tuple[str, JobSpec]], limit: int, *, show_progress: bool
) -> list[GenerateResult]:
    async with forge:
        err_console.print(
            f"Using the built-in simulator at {forge.base_url}: {len(jobs)} videos, "
            f"{limit} at a time, into {forge.out}/"
        )
        gate = asyncio.Semaphore(limit)
        with Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[status]:<22}"),
            TimeElapsedColumn(),
            console=err_console,
            disable=not show_progress,
        ) as progress:
            overall = progress.add_task("[bold]batch", total=len(jobs), status="")
            tasks = {key: progress.add_task(key, total=100, status="waiting") for key, _ in jobs}

            async def one(key: str, spec: JobSpec) -> GenerateResult:
                task = tasks[key]
                async with gate:
                    result = await forge.generate(
                        spec, job_id=key, on_event=lambda e: _update(progress, task, e)
                    )
                progress.update(task, completed=100, status=result.state.value)
                progress.advance(overall)
                return result

            return list(await asyncio.gather(*(one(key, spec) for key, spec in jobs)))


def _update(progress: Progress, task: TaskID, event: GenerateEvent) -> None:
    if event.phase in (Phase.SUBMITTED, Phase.STATUS):
        state = event.status.state
        done = 100 if state is RemoteState.COMPLETED else event.status.progress
        progress.update(task, completed=done, status=state.value.replace("_", " "))
    elif event.phase is Phase.DOWNLOADING and event.variant is not None:
        progress.update(task, status=f"downloading {event.variant.value}")


def _summary(results: list[GenerateResult], elapsed: float, out: Path) -> None:
    table = Table(title="reelforge demo")
    for column in ("job", "state", "seconds", "size", "cost", "video"):
        table.add_column(column, overflow="fold")
    total = Decimal(0)
    for r in results:
        cost = r.cost or Decimal(0)
        total += cost
        video = r.assets.get(Variant.VIDEO)
        table.add_row(
            r.job_id,
            r.state.value,
            str(r.spec.seconds),
            r.spec.size,
            f"${cost:.2f}",
            f"{video.size / 1024:,.0f} KiB"
            if video
            else escape(r.error.message if r.error else "-"),
        )
    out_console.print(table)
    done = sum(r.ok for r in results)
    out_console.print(
        f"{done}/{len(results)} videos done in {elapsed:.1f} s, in {escape(str(out))}/ "
        f"(each job: video.mp4, thumbnail.webp, spritesheet.jpg, job.json); "
        f"simulated cost ${total:.2f}, billed $0.00."
    )
