"""``reelforge run BATCH_FILE``: run a batch durably to the end; run it again to continue."""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from reelforge.app.batchrun import BatchResult, check_resumable, run_batch
from reelforge.app.forge import Forge
from reelforge.batch import Batch, load_batch
from reelforge.cli._common import ExitCode, err_console, out_console, print_json, reelforge_errors
from reelforge.cli._options import (
    BaseUrlOption,
    ConfigOption,
    CreateTimeoutOption,
    DbOption,
    EventsJsonlOption,
    JobTimeoutOption,
    JsonOption,
    MaxInFlightOption,
    NotionOption,
    OutOption,
    RpmOption,
    SimulatorOption,
    SinkWaitOption,
    WebhookOption,
)
from reelforge.cli._session import run_with_engine
from reelforge.cli._sinkflags import sink_plan
from reelforge.cli.live import summary_table
from reelforge.core.config import display_url
from reelforge.core.errors import ConfigError, InvalidSpecError
from reelforge.core.models import JobState
from reelforge.core.paths import check_database, check_output_dir
from reelforge.core.polling import PollPolicy
from reelforge.engine import ReconcilePolicy
from reelforge.engine.outcome import FINAL
from reelforge.providers.openai_entry import OpenAISettings
from reelforge.sinks.config import SinkPlan
from reelforge.sinks.follow import DEFAULT_FINAL_WAIT
from reelforge.store import BatchSummary

__all__ = ["parse_budget", "result_dict", "run"]


def run(
    batch_file: Annotated[
        Path, typer.Argument(help="A batch file: YAML, JSON, JSONL or CSV.", show_default=False)
    ],
    out: OutOption = Path("reelforge-out"),
    max_in_flight: MaxInFlightOption = 4,
    rpm: RpmOption = None,
    budget: Annotated[
        str | None, typer.Option(help="Most dollars the batch may spend (e.g. 25 or 12.50).")
    ] = None,
    timeout: JobTimeoutOption = 3600.0,
    create_timeout: CreateTimeoutOption = 90.0,
    base_url: BaseUrlOption = None,
    db: DbOption = None,
    simulator: SimulatorOption = None,
    config: ConfigOption = None,
    notion: NotionOption = None,
    webhook: WebhookOption = None,
    events_jsonl: EventsJsonlOption = None,
    sink_wait: SinkWaitOption = DEFAULT_FINAL_WAIT,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Record and enqueue the batch, print its id and return: `reelforge worker` "
            "processes on the same --db run it. Needs --base-url or real credentials.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run every job of a batch file to the end, within the account's limits.

    Resumable: after a crash or Ctrl+C, the same command continues the batch and never
    submits a job twice. With --detach the batch is only enqueued, for `reelforge worker`
    processes to run (follow it with `reelforge watch BATCH`). Exit codes: 0 every job done
    (with --detach: enqueued), 1 some failed, 2 bad input.
    """
    with reelforge_errors():
        batch = load_batch(batch_file)
        cap = parse_budget(budget)
        if detach:
            _check_detachable(
                simulator=simulator,
                base_url=base_url,
                sink_flags=bool(notion or webhook or events_jsonl),
            )
        else:
            sinks = sink_plan(config, notion=notion, webhooks=webhook, events_jsonl=events_jsonl)
        forge = Forge(
            poll=PollPolicy(timeout=timeout),
            reconcile=ReconcilePolicy(create_timeout=create_timeout),
            base_url=base_url,
            simulator=False if detach else simulator,
            out=out,
            db=db,
            max_in_flight=max_in_flight,
            rpm=rpm,
        )
        check_database(forge.db_url)
        if detach:
            summary = asyncio.run(forge.enqueue(batch, out=out, budget=cap))
            _report_enqueued(summary, db_url=forge.db_url, as_json=as_json)
            return
        check_output_dir(out)
        result = asyncio.run(
            _run(forge, batch, out=out, budget=cap, live=not as_json, sinks=sinks, wait=sink_wait)
        )
    report(result, as_json=as_json)


_NO_SIMULATOR = (
    "--detach needs a provider that outlives this command: the built-in simulator stops when "
    "it returns, so no worker could finish the batch. Start `reelforge sim` and pass "
    "--base-url with OPENAI_API_KEY (or use real credentials), and start `reelforge worker` "
    "with the same"
)


def _check_detachable(*, simulator: bool | None, base_url: str | None, sink_flags: bool) -> None:
    """Bad input (exit 2) for a detached run that would use the embedded simulator, or that is
    given sinks (the workers follow the events, with their own flags)."""
    settings = OpenAISettings()
    unset = base_url is None and settings.api_key is None and settings.base_url is None
    if simulator is True or unset:
        raise ConfigError(_NO_SIMULATOR)
    if sink_flags:
        raise ConfigError(
            "--detach runs no job here, so there is nothing for sinks to follow: give "
            "--notion, --webhook or --events-jsonl to `reelforge worker` instead"
        )


def _report_enqueued(summary: BatchSummary, *, db_url: str, as_json: bool) -> None:
    """What ``run --detach`` left on the queue."""
    unfinished = summary.total - sum(summary.counts[state] for state in FINAL)
    if as_json:
        print_json(
            {
                "batch": summary.batch_id,
                "jobs": summary.total,
                "enqueued": unfinished,
                "counts": {state.value: n for state, n in summary.counts.items()},
                "db": display_url(db_url),
            }
        )
        return
    out_console.print(
        f"batch {summary.batch_id}: {unfinished} of {summary.total} jobs enqueued on "
        f"{display_url(db_url)}; `reelforge worker` processes on it run them "
        f"(follow with `reelforge watch {summary.batch_id}`)"
    )


def parse_budget(value: str | None) -> Decimal | None:
    """``--budget`` in dollars; anything but a positive amount is bad input (exit 2)."""
    if value is None:
        return None
    try:
        amount = Decimal(value.strip().lstrip("$"))
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount <= 0:
        raise InvalidSpecError(
            f"budget {value!r} is not a positive amount of dollars (e.g. 25 or 12.50)",
            field="budget",
            value=value,
        )
    return amount


async def _run(
    forge: Forge,
    batch: Batch,
    *,
    out: Path,
    budget: Decimal | None,
    live: bool,
    sinks: SinkPlan,
    wait: float,
) -> BatchResult:
    async with forge:
        notice = forge.simulator_notice(job.spec.provider for job in batch)
        if notice is not None:
            err_console.print(
                f"{notice} Start `reelforge sim` and pass --base-url to resume batches across "
                "runs.",
                highlight=False,
            )
        err_console.print(
            f"batch {batch.name}: {len(batch)} jobs, at most {forge.max_in_flight} in flight"
            + (f", budget ${budget:.2f}" if budget is not None else "")
            + f"; database {display_url(forge.db_url)}"
            + (f"; sinks: {sinks.describe()}" if sinks else "")
        )
        return await run_with_engine(
            forge,
            batch.name,
            lambda engine, on_update: run_batch(
                engine, batch, out=out, budget=budget, on_update=on_update
            ),
            live=live,
            prepare=lambda store, engine: check_resumable(
                store, batch.name, providers=engine.providers
            ),
            sinks=sinks,
            sink_wait=wait,
        )


def report(result: BatchResult, *, as_json: bool, ok: bool | None = None) -> None:
    """Print the batch's outcome and exit 0 (all done, or ``ok``), or 1 (something failed or
    waits)."""
    if as_json:
        print_json(result_dict(result))
    else:
        out_console.print(summary_table(result.jobs, title=f"batch {result.batch_id}"))
        counts = {state.value: n for state, n in result.summary.counts.items() if n}
        out_console.print(
            ", ".join(f"{n} {state}" for state, n in counts.items())
            + f"; cost ${result.summary.actual:.2f}; files in {result.out_dir}/"
        )
        if result.count(JobState.NEEDS_REVIEW):
            out_console.print("Some jobs need review: see `reelforge reconcile`.")
    done = result.ok if ok is None else ok
    raise typer.Exit(int(ExitCode.OK if done else ExitCode.FAILED))


def result_dict(result: BatchResult) -> dict[str, object]:
    """The JSON form of a batch result."""
    return {
        "batch": result.batch_id,
        "counts": {state.value: n for state, n in result.summary.counts.items()},
        "cost": {
            "estimated": str(result.summary.estimated),
            "actual": str(result.summary.actual),
            "budget": str(result.summary.budget_usd)
            if result.summary.budget_usd is not None
            else None,
        },
        "out_dir": str(result.out_dir),
        "jobs": [
            {
                "id": job.id,
                "key": job.key,
                "state": job.state.value,
                "remote_id": job.remote_id,
                "category": job.category.value if job.category else None,
                "error": job.error,
                "cost": str(job.actual_cost) if job.actual_cost is not None else None,
                "labels": dict(job.labels),
            }
            for job in result.jobs
        ],
    }
