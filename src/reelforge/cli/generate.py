"""``reelforge generate PROMPT``: one video, from prompt to verified files on disk."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from reelforge.app.forge import Forge
from reelforge.app.generate import GenerateEvent, GenerateResult, Phase, generate_database
from reelforge.cli._common import (
    ExitCode,
    err_console,
    out_console,
    print_json,
    reelforge_errors,
)
from reelforge.cli._options import (
    BaseUrlOption,
    CreateTimeoutOption,
    JobTimeoutOption,
    JsonOption,
    SimulatorOption,
)
from reelforge.core.capabilities import validate_spec
from reelforge.core.config import Settings, display_url
from reelforge.core.errors import (
    ConfigError,
    InvalidSpecError,
    ProviderError,
    ReelforgeError,
)
from reelforge.core.models import JobSpec, JobState
from reelforge.core.paths import check_output_dir
from reelforge.core.polling import PollPolicy
from reelforge.core.pricing import estimate_cost
from reelforge.engine.reconcile import ReconcilePolicy
from reelforge.providers.registry import entry

__all__ = ["generate", "parse_params"]

GenerateDbOption = Annotated[
    str | None,
    typer.Option(
        help="Keep the job in this database (a SQLite path or a URL), where `reelforge status "
        "JOB` shows it [env: REELFORGE_DB_URL]. Default: a throwaway database, removed when "
        "the command ends.",
        show_default=False,
    ),
]


def generate(
    prompt: Annotated[str, typer.Argument(help="What the video shows.", show_default=False)],
    provider: Annotated[
        str,
        typer.Option(
            help="Provider: openai, fal, replicate, runway or vertex (see `reelforge models`)."
        ),
    ] = "openai",
    model: Annotated[
        str,
        typer.Option(
            help="Model: sora-2, sora-2-pro or a gateway's on openai; a fal endpoint id or a "
            "Replicate owner/name (see `reelforge models`)."
        ),
    ] = "sora-2",
    seconds: Annotated[
        int | None,
        typer.Option(help="Length in seconds (default: the model's).", show_default=False),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            help="WIDTHxHEIGHT, or an aspect ratio: 16:9 or 9:16 (OpenAI-protocol models; "
            "default 720x1280).",
            show_default=False,
        ),
    ] = None,
    aspect_ratio: Annotated[
        str | None, typer.Option(help="Aspect ratio, e.g. 16:9 (default: the model's).")
    ] = None,
    resolution: Annotated[
        str | None, typer.Option(help="Resolution, e.g. 720p, 1080p (default: the model's).")
    ] = None,
    audio: Annotated[
        bool | None,
        typer.Option(
            "--audio/--no-audio",
            help="With sound or silent (default: the model's).",
            show_default=False,
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(help="First frame: an image file or an http(s) URL.", show_default=False),
    ] = None,
    end_image: Annotated[
        str | None,
        typer.Option(help="Last frame: an image file or an http(s) URL.", show_default=False),
    ] = None,
    negative_prompt: Annotated[
        str | None, typer.Option(help="What the video must not show.", show_default=False)
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.", show_default=False)] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="A model input as the provider names it, NAME=VALUE (VALUE read as JSON when "
            "it parses, else as text); repeat for more.",
            show_default=False,
        ),
    ] = None,
    input_reference: Annotated[
        Path | None,
        typer.Option("--input-reference", help="Image for the first frame (must match --size)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the job's files: OUT/<job>/.")] = Path(
        "reelforge-out"
    ),
    db: GenerateDbOption = None,
    base_url: BaseUrlOption = None,
    simulator: SimulatorOption = None,
    timeout: JobTimeoutOption = 3600.0,
    create_timeout: CreateTimeoutOption = 90.0,
    as_json: JsonOption = False,
) -> None:
    """Generate one video and download it with its thumbnail and spritesheet.

    The video runs as a one-job batch on the durable engine (a create is never sent twice).
    Exit codes: 0 done, 1 the job failed (the provider's reason is shown; with --json, in the
    "error" object on stdout), 2 bad input (nothing was sent).
    """
    with reelforge_errors(), _json_errors(as_json):
        caps = entry(provider).capabilities(model)
        if size is not None and caps.neutral:
            raise InvalidSpecError(
                f"--size is the OpenAI protocol's option; {model} takes --aspect-ratio and "
                "--resolution",
                field="size",
                value=size,
                allowed=("--aspect-ratio", "--resolution"),
            )
        spec = validate_spec(
            JobSpec(
                prompt=prompt,
                provider=provider,
                model=model,
                seconds=seconds if seconds is not None else caps.default_seconds,
                size=size or caps.default_size or "720x1280",
                input_reference=input_reference,
                aspect_ratio=aspect_ratio,
                resolution=resolution,
                audio=audio,
                image=_local(image),
                end_image=_local(end_image),
                negative_prompt=negative_prompt,
                seed=seed,
                params=parse_params(param or []),
            )
        )
        chosen = db if db is not None else Settings().reelforge_db_url
        with generate_database(chosen) as where:
            forge = Forge(
                base_url=base_url,
                simulator=simulator,
                out=check_output_dir(out),
                db=where,
                poll=PollPolicy(timeout=timeout),
                reconcile=ReconcilePolicy(create_timeout=create_timeout),
            )
            result = asyncio.run(
                _run(forge, spec, db=where, recorded=chosen is not None, show_progress=not as_json)
            )
    if not result.ok:
        _print_reason(result)
    if as_json:
        print_json(_result_dict(result, forge, recorded=chosen is not None))
    else:
        _print_summary(result, database=forge.db_url if chosen is not None else None)
    raise typer.Exit(int(ExitCode.OK if result.ok else ExitCode.FAILED))


async def _run(
    forge: Forge, spec: JobSpec, *, db: str | Path, recorded: bool, show_progress: bool
) -> GenerateResult:
    async with forge:
        notice = forge.simulator_notice([spec.provider])
        if notice is not None:
            err_console.print(notice, highlight=False)
        estimate = estimate_cost(spec, forge.prices)
        price = f"${estimate:.2f}" if estimate is not None else "unknown (model not in price table)"
        where = f"; database {display_url(forge.db_url)}" if recorded else ""
        err_console.print(
            f"{spec.model}, {spec.seconds} s, {spec.size}; estimated cost {price}{where}",
            highlight=False,
        )
        if not show_progress:
            return await forge.generate(spec, db=db)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=err_console,
        ) as progress:
            task = progress.add_task(escape(_short(spec.prompt)), total=100, status="starting")
            return await forge.generate(spec, db=db, on_event=lambda e: _update(progress, task, e))


@contextlib.contextmanager
def _json_errors(as_json: bool) -> Iterator[None]:
    """With ``--json``, a failure that stops the command (exit 1) is also printed as a JSON
    ``error`` object on stdout; bad input (exit 2) is reported on stderr only, like every
    command's."""
    try:
        yield
    except (InvalidSpecError, ConfigError):
        raise
    except ReelforgeError as exc:
        if as_json:
            print_json({"error": _error_dict(exc), "job_id": None})
        raise


def _error_dict(exc: ReelforgeError) -> dict[str, object]:
    provider = exc if isinstance(exc, ProviderError) else None
    return {
        "category": exc.category.value,
        "message": str(exc),
        "code": provider.code if provider is not None else None,
        "param": provider.param if provider is not None else None,
    }


def _update(progress: Progress, task: TaskID, event: GenerateEvent) -> None:
    if event.phase is Phase.NOTE and event.message is not None:
        progress.console.print(f"note: {escape(event.message)}", highlight=False)
        return
    if event.phase is Phase.DOWNLOADED and event.variant is not None:
        progress.update(task, completed=100, status=f"downloaded {event.variant.value}")
        return
    done = 100 if event.state in (JobState.COMPLETED, JobState.DOWNLOADING, JobState.DONE) else None
    progress.update(
        task,
        completed=done if done is not None else event.progress,
        status=event.state.value.replace("_", " "),
    )


def _short(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_reason(result: GenerateResult) -> None:
    """The reason a job did not end ``done``, on stderr (``error: …``), whatever the format."""
    error = result.error
    reason = (
        f"{error.message} [{error.category.value}]"
        if error is not None
        else f"the job ended {result.state.value}"
    )
    err_console.print(
        f"[bold red]error:[/] job {escape(result.job_id)} ended {result.state.value}: "
        f"{escape(reason)}",
        markup=True,
        highlight=False,
    )


def _print_summary(result: GenerateResult, *, database: str | None) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("job", result.job_id)
    table.add_row("remote id", escape(result.remote_id or "none (nothing was created)"))
    table.add_row("state", result.state.value)
    cost = result.cost if result.cost is not None else result.estimated_cost
    table.add_row("cost", f"${cost:.2f}" if cost is not None else "unknown")
    for variant, asset in result.assets.items():
        table.add_row(variant.value, f"{asset.path} ({asset.size:,} bytes)")
    record = result.job_dir / "job.json"
    if record.is_file():
        table.add_row("record", str(record))
    if database is not None:
        table.add_row("database", f"{display_url(database)} (`reelforge status {result.job_id}`)")
    out_console.print(table)


def _result_dict(result: GenerateResult, forge: Forge, *, recorded: bool) -> dict[str, object]:
    return {
        "job_id": result.job_id,
        "state": result.state.value,
        "remote_id": result.remote_id,
        "simulator": bool(forge.simulated_providers([result.spec.provider])),
        "database": display_url(forge.db_url) if recorded else None,
        "spec": result.spec.to_dict(),
        "error": result.error.to_dict() if result.error is not None else None,
        "estimated_cost": str(result.estimated_cost) if result.estimated_cost is not None else None,
        "cost": str(result.cost) if result.cost is not None else None,
        "dir": str(result.job_dir),
        "assets": {
            v.value: {"path": str(a.path), "bytes": a.size, "sha256": a.sha256}
            for v, a in result.assets.items()
        },
    }


def parse_params(items: list[str]) -> dict[str, object]:
    """``--param NAME=VALUE`` options as a mapping: VALUE is JSON when it parses (``5``,
    ``true``, ``{"a": 1}``), else text. A missing ``=`` or name is bad input (exit 2)."""
    params: dict[str, object] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise InvalidSpecError(f"--param {item!r} is not NAME=VALUE", field="param", value=item)
        try:
            value: object = json.loads(raw)
        except ValueError:
            value = raw
        params[name.strip()] = value
    return params


def _local(image: str | None) -> str | None:
    """A first/last frame: a URL as it is, a file path made absolute."""
    if image is None or image.startswith(("http://", "https://", "data:")):
        return image
    return str(Path(image).expanduser().resolve())
