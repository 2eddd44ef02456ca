"""``reelforge generate PROMPT``: one video, from prompt to verified files on disk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from reelforge.app.forge import Forge
from reelforge.app.generate import GenerateEvent, GenerateResult, Phase
from reelforge.cli._common import (
    ExitCode,
    err_console,
    out_console,
    print_json,
    reelforge_errors,
)
from reelforge.cli._options import BaseUrlOption, JsonOption, SimulatorOption
from reelforge.core.capabilities import validate_spec
from reelforge.core.models import JobSpec, RemoteState
from reelforge.core.paths import check_output_dir
from reelforge.core.pricing import estimate_cost

__all__ = ["generate"]


def generate(
    prompt: Annotated[str, typer.Argument(help="What the video shows.", show_default=False)],
    model: Annotated[str, typer.Option(help="Model name (sora-2, sora-2-pro, or a gateway's).")] = (
        "sora-2"
    ),
    seconds: Annotated[int, typer.Option(help="Duration: 4, 8 or 12 for sora-2 models.")] = 4,
    size: Annotated[
        str, typer.Option(help="WIDTHxHEIGHT, or an aspect ratio: 16:9 or 9:16.")
    ] = "720x1280",
    input_reference: Annotated[
        Path | None,
        typer.Option("--input-reference", help="Image for the first frame (must match --size)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the job's files.")] = Path("reelforge-out"),
    base_url: BaseUrlOption = None,
    simulator: SimulatorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate one video and download it with its thumbnail and spritesheet.

    Exit codes: 0 done, 1 the job failed (the provider's reason is shown), 2 bad input.
    """
    with reelforge_errors():
        spec = validate_spec(
            JobSpec(
                prompt=prompt,
                model=model,
                seconds=seconds,
                size=size,
                input_reference=input_reference,
            )
        )
        forge = Forge(base_url=base_url, simulator=simulator, out=check_output_dir(out))
        result = asyncio.run(_run(forge, spec, show_progress=not as_json))
    if as_json:
        print_json(_result_dict(result, forge))
    else:
        _print_summary(result)
    raise typer.Exit(int(ExitCode.OK if result.ok else ExitCode.FAILED))


async def _run(forge: Forge, spec: JobSpec, *, show_progress: bool) -> GenerateResult:
    async with forge:
        if forge.using_simulator:
            err_console.print(
                f"Using the built-in simulator at {forge.base_url} (no OPENAI_API_KEY set; "
                "nothing is billed)."
            )
        estimate = estimate_cost(spec, forge.prices)
        price = f"${estimate:.2f}" if estimate is not None else "unknown (model not in price table)"
        err_console.print(
            f"{spec.model}, {spec.seconds} s, {spec.size}; estimated cost {price}", highlight=False
        )
        if not show_progress:
            return await forge.generate(spec)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=err_console,
        ) as progress:
            task = progress.add_task(escape(_short(spec.prompt)), total=100, status="submitting")
            return await forge.generate(spec, on_event=lambda e: _update(progress, task, e))


def _update(progress: Progress, task: TaskID, event: GenerateEvent) -> None:
    status = event.status
    if event.phase in (Phase.SUBMITTED, Phase.STATUS):
        done = 100 if status.state is RemoteState.COMPLETED else status.progress
        progress.update(task, completed=done, status=status.state.value.replace("_", " "))
    elif event.phase is Phase.DOWNLOADING and event.variant is not None:
        progress.update(task, status=f"downloading {event.variant.value}")
    elif event.phase is Phase.DOWNLOADED:
        progress.update(task, status="downloaded")


def _short(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_summary(result: GenerateResult) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("job", result.job_id)
    table.add_row("remote id", result.status.remote_id)
    table.add_row("state", result.state.value)
    if result.error is not None:
        reason = f"{result.error.category.value}: {result.error.message}"
        table.add_row("reason", escape(reason))
    cost = result.cost if result.cost is not None else result.estimated_cost
    table.add_row("cost", f"${cost:.2f}" if cost is not None else "unknown")
    for variant, asset in result.assets.items():
        table.add_row(variant.value, f"{asset.path} ({asset.size:,} bytes)")
    table.add_row("record", str(result.job_dir / "job.json"))
    out_console.print(table)


def _result_dict(result: GenerateResult, forge: Forge) -> dict[str, object]:
    return {
        "job_id": result.job_id,
        "state": result.state.value,
        "remote_id": result.status.remote_id,
        "simulator": forge.using_simulator,
        "spec": result.spec.to_dict(),
        "error": (
            {
                "category": result.error.category.value,
                "code": result.error.code,
                "message": result.error.message,
            }
            if result.error
            else None
        ),
        "estimated_cost": str(result.estimated_cost) if result.estimated_cost is not None else None,
        "cost": str(result.cost) if result.cost is not None else None,
        "dir": str(result.job_dir),
        "assets": {
            v.value: {"path": str(a.path), "bytes": a.size, "sha256": a.sha256}
            for v, a in result.assets.items()
        },
    }
