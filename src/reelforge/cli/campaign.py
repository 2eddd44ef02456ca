"""``reelforge campaign plan|run FILE``: a creative matrix checked, priced and run as a batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from reelforge.app.campaignrun import (
    CampaignResult,
    CampaignReview,
    ReviewedCombination,
    prepare_recorded,
    prepare_review,
    review_campaign,
    run_campaign,
)
from reelforge.app.forge import Forge
from reelforge.campaign import Campaign
from reelforge.campaign.writer import (
    DEFAULT_PROMPT_CACHE,
    DEFAULT_WRITER_MODEL,
    PromptCache,
    PromptWriter,
)
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
from reelforge.cli.run import parse_budget, report, result_dict
from reelforge.compliance import Severity, Verdict
from reelforge.core.errors import ConfigError
from reelforge.core.paths import check_database, check_output_dir
from reelforge.core.polling import PollPolicy
from reelforge.engine import ReconcilePolicy
from reelforge.sinks.config import SinkPlan
from reelforge.sinks.follow import DEFAULT_FINAL_WAIT

__all__ = ["campaign_app", "campaign_result_dict", "run_review"]

campaign_app = typer.Typer(
    name="campaign",
    help="Plan and run a campaign: a matrix of ad variations, checked and priced first.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

CampaignFile = Annotated[Path, typer.Argument(help="A campaign file (YAML).", show_default=False)]
BudgetOption = Annotated[
    str | None, typer.Option(help="Most dollars the campaign may spend (e.g. 25 or 12.50).")
]

WritePromptsOption = Annotated[
    bool,
    typer.Option(
        "--write-prompts",
        help="Have a language model turn each rendered prompt into a richer shot description "
        "(the Responses API of the endpoint; cached by input, so a re-run costs nothing).",
    ),
]
WriterModelOption = Annotated[str, typer.Option(help="The model --write-prompts uses.")]
PromptCacheOption = Annotated[
    Path, typer.Option(help="Folder of the --write-prompts cache.", show_default=True)
]
ModerationOption = Annotated[
    bool,
    typer.Option(
        "--moderation",
        help="Also run every final prompt through the endpoint's moderation check; "
        "flagged prompts are rejected.",
    ),
]

_VERDICT_STYLE = {Verdict.CLEAN: "green", Verdict.WARN: "yellow", Verdict.REJECT: "red"}


@campaign_app.command()
def plan(
    campaign_file: CampaignFile,
    budget: BudgetOption = None,
    write_prompts: WritePromptsOption = False,
    writer_model: WriterModelOption = DEFAULT_WRITER_MODEL,
    prompt_cache: PromptCacheOption = DEFAULT_PROMPT_CACHE,
    moderation: ModerationOption = False,
    base_url: BaseUrlOption = None,
    simulator: SimulatorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every combination: its prompt, compliance verdict and reasons, parameters and
    estimated cost, with the totals. No video is created.

    With --budget, says which accepted combinations fit (in the order they would run).
    --write-prompts and --moderation call the endpoint (the simulator without a key).
    Exit codes: 0 planned, 2 bad campaign file or option.
    """
    options = _Stages(write_prompts, writer_model, prompt_cache, moderation)
    with reelforge_errors():
        campaign = Campaign.load(campaign_file)
        cap = parse_budget(budget)
        if options.write_prompts:
            _check_cache_folder(options.prompt_cache)
        if options.remote:
            forge = Forge(base_url=base_url, simulator=simulator)
            review = asyncio.run(_review_remote(forge, campaign, options, budget=cap))
        else:
            review = review_campaign(campaign, budget=cap)
    if as_json:
        print_json(review.to_dict())
        return
    _print_review(review)


@campaign_app.command()
def run(
    campaign_file: CampaignFile,
    out: OutOption = Path("reelforge-out"),
    budget: BudgetOption = None,
    max_in_flight: MaxInFlightOption = 4,
    rpm: RpmOption = None,
    timeout: JobTimeoutOption = 3600.0,
    create_timeout: CreateTimeoutOption = 90.0,
    write_prompts: WritePromptsOption = False,
    writer_model: WriterModelOption = DEFAULT_WRITER_MODEL,
    prompt_cache: PromptCacheOption = DEFAULT_PROMPT_CACHE,
    moderation: ModerationOption = False,
    base_url: BaseUrlOption = None,
    db: DbOption = None,
    simulator: SimulatorOption = None,
    config: ConfigOption = None,
    notion: NotionOption = None,
    webhook: WebhookOption = None,
    events_jsonl: EventsJsonlOption = None,
    sink_wait: SinkWaitOption = DEFAULT_FINAL_WAIT,
    as_json: JsonOption = False,
) -> None:
    """Plan, check and run a campaign as a durable batch.

    Combinations compliance rejects are recorded as `rejected` with their reasons and never
    sent; the report (compliance.csv, compliance.json) is written to OUT/<campaign>/. With
    --budget, a campaign whose accepted combinations cost more is refused before anything is
    sent. Resumable like `reelforge run`. Exit codes: 0 every accepted job done, 1 some
    failed, 2 bad input or over budget.
    """
    options = _Stages(write_prompts, writer_model, prompt_cache, moderation)
    with reelforge_errors():
        campaign = Campaign.load(campaign_file)
        cap = parse_budget(budget)
        sinks = sink_plan(config, notion=notion, webhooks=webhook, events_jsonl=events_jsonl)
        # Refuse an over-budget campaign before anything starts (prompts do not change costs).
        review_campaign(campaign, budget=cap).check_budget()
        if options.write_prompts:
            _check_cache_folder(options.prompt_cache)
        forge = Forge(
            poll=PollPolicy(timeout=timeout),
            reconcile=ReconcilePolicy(create_timeout=create_timeout),
            base_url=base_url,
            simulator=simulator,
            out=out,
            db=db,
            max_in_flight=max_in_flight,
            rpm=rpm,
        )
        check_database(forge.db_url)
        check_output_dir(out)
        result = asyncio.run(
            _run(
                forge,
                campaign,
                options,
                budget=cap,
                out=out,
                live=not as_json,
                sinks=sinks,
                wait=sink_wait,
            )
        )
    review = result.review
    if as_json:
        print_json(campaign_result_dict(result))
        raise typer.Exit(int(ExitCode.OK if result.ok else ExitCode.FAILED))
    for line in _rejected_lines(review):
        out_console.print(line, markup=False)
    if result.still_rejected:
        out_console.print(
            f"{len(result.still_rejected)} accepted combinations were rejected by an earlier "
            f"run and stay rejected (a final state): {', '.join(result.still_rejected)}; run "
            "the campaign under another name to make them.",
            markup=False,
        )
    out_console.print(f"compliance report: {result.report[0]} and {result.report[1].name}")
    report(result.batch, as_json=False, ok=result.ok)


@dataclass(frozen=True, slots=True)
class _Stages:
    """The optional stages that call the endpoint before compliance."""

    write_prompts: bool
    writer_model: str
    prompt_cache: Path
    moderation: bool

    @property
    def remote(self) -> bool:
        return self.write_prompts or self.moderation


async def _review_remote(
    forge: Forge, campaign: Campaign, options: _Stages, *, budget: Decimal | None
) -> CampaignReview:
    async with forge:
        _say_simulator(forge, _providers(campaign, options))
        return await _review_with(forge, campaign, options, budget=budget)


async def _review_with(
    forge: Forge, campaign: Campaign, options: _Stages, *, budget: Decimal | None
) -> CampaignReview:
    if not options.remote:
        return review_campaign(campaign, budget=budget, prices=forge.prices)
    async with forge.openai_client() as client:
        writer = None
        if options.write_prompts:
            writer = PromptWriter(
                client, model=options.writer_model, cache=PromptCache(options.prompt_cache)
            )
        return await prepare_review(
            campaign,
            writer=writer,
            moderation=client if options.moderation else None,
            budget=budget,
            prices=forge.prices,
        )


def _check_cache_folder(folder: Path) -> None:
    """The prompt cache's folder, created now: an unusable one is bad input (exit 2) before
    any prompt is written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--prompt-cache {folder}: cannot be used as a folder ({exc.strerror or exc})"
        ) from None


def _providers(campaign: Campaign, options: _Stages) -> set[str]:
    """The providers the campaign's jobs use, and ``openai`` for the remote prompt stages."""
    used = {combination.spec.provider for combination in campaign.plan().combinations}
    return used | {"openai"} if options.remote else used


def _say_simulator(forge: Forge, providers: Iterable[str] | None = None) -> None:
    notice = forge.simulator_notice(providers)
    if notice is not None:
        err_console.print(notice, highlight=False)


async def _run(
    forge: Forge,
    campaign: Campaign,
    options: _Stages,
    *,
    budget: Decimal | None,
    out: Path,
    live: bool,
    sinks: SinkPlan,
    wait: float,
) -> CampaignResult:
    async with forge:
        _say_simulator(forge, _providers(campaign, options))
        review = await _review_with(forge, campaign, options, budget=budget)
        review.check_budget()
        err_console.print(
            f"campaign {review.campaign.name}: {len(review.combinations)} combinations, "
            f"{len(review.accepted)} to run, {len(review.rejected)} rejected by compliance; "
            f"estimated ${review.estimated_total:.2f}"
            + (f" of a ${review.budget:.2f} budget" if review.budget is not None else "")
            + (f"; sinks: {sinks.describe()}" if sinks else "")
        )
        return await run_review(forge, review, out=out, live=live, sinks=sinks, sink_wait=wait)


async def run_review(
    forge: Forge,
    review: CampaignReview,
    *,
    out: Path,
    live: bool,
    sinks: SinkPlan | None = None,
    sink_wait: float = DEFAULT_FINAL_WAIT,
) -> CampaignResult:
    """Run a reviewed campaign on the forge's engine (the forge entered already): what earlier
    runs recorded is settled first, then the batch runs with its sinks and live view."""
    return await run_with_engine(
        forge,
        review.batch_name,
        lambda engine, on_update: run_campaign(engine, review, out=out, on_update=on_update),
        live=live,
        prepare=lambda store, engine: prepare_recorded(store, review, providers=engine.providers),
        sinks=sinks,
        sink_wait=sink_wait,
    )


def campaign_result_dict(result: CampaignResult) -> dict[str, object]:
    """The JSON form of a campaign run: the batch result, the review's totals, the report."""
    return {
        **result_dict(result.batch),
        "campaign": result.review.to_dict()["totals"],
        "report": {"csv": str(result.report[0]), "json": str(result.report[1])},
    }


def _print_review(review: CampaignReview) -> None:
    campaign = review.campaign
    out_console.print(
        f"campaign {escape(campaign.name)} ({escape(campaign.brand)}, "
        f"{escape(campaign.product_category)}): {len(review.combinations)} combinations"
    )
    for number, item in enumerate(review.combinations, start=1):
        _print_combination(number, item, budgeted=review.budget is not None)
    out_console.print(_totals(review))
    if review.budget is not None:
        _print_budget(review)


def _print_combination(number: int, item: ReviewedCombination, *, budgeted: bool) -> None:
    c = item.combination
    style = _VERDICT_STYLE[item.verdict]
    cost = f"${item.estimated_cost:.2f}" if item.estimated_cost is not None else "price unknown"
    fit = ""
    if budgeted and item.accepted:
        fit = "  [green]fits budget[/]" if item.fits else "  [red]over budget[/]"
    out_console.print(
        f"[bold]{number:>3}. {escape(c.name)}[/]  [dim]{c.id}[/]  "
        f"[{style}]{item.verdict.value}[/]  {c.spec.model} {c.spec.seconds}s {c.spec.size}  "
        f"{cost}{fit}"
    )
    out_console.print(f"     prompt: {c.prompt}", markup=False)
    for finding in item.compliance.findings:
        blocking = finding.severity is Severity.ERROR
        out_console.print(f"     {finding}", markup=False, style="red" if blocking else "yellow")


def _totals(review: CampaignReview) -> Table:
    table = Table(title="totals", show_header=True, header_style="bold")
    table.add_column("combinations", justify="right")
    table.add_column("accepted", justify="right")
    table.add_column("with warnings", justify="right")
    table.add_column("rejected", justify="right")
    table.add_column("estimated cost", justify="right")
    table.add_row(
        str(len(review.combinations)),
        str(len(review.accepted)),
        str(sum(1 for c in review.accepted if c.verdict is Verdict.WARN)),
        str(len(review.rejected)),
        f"${review.estimated_total:.2f}",
    )
    return table


def _print_budget(review: CampaignReview) -> None:
    assert review.budget is not None
    fitting = review.fitting
    cost = sum((c.estimated_cost or Decimal(0) for c in fitting), Decimal(0))
    if not review.over_budget:
        out_console.print(
            f"All {len(review.accepted)} accepted combinations fit the budget of "
            f"${review.budget:.2f} (${review.estimated_total:.2f})."
        )
        return
    left_out = [c for c in review.accepted if not c.fits]
    out_console.print(
        f"[red]Over budget:[/] the accepted combinations need ${review.estimated_total:.2f}; "
        f"${review.budget:.2f} covers the first {len(fitting)} (${cost:.2f}):"
    )
    out_console.print("  fit: " + ", ".join(c.combination.name for c in fitting), markup=False)
    out_console.print(
        "  do not fit: " + ", ".join(c.combination.name for c in left_out), markup=False
    )
    out_console.print("`reelforge campaign run` refuses to start over budget.")


def _rejected_lines(review: CampaignReview) -> list[str]:
    return [f"rejected {item.combination.name}: {item.reason}" for item in review.rejected]
