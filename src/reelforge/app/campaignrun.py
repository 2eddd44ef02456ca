"""A campaign from plan to finished videos: review (compliance, cost, budget), report, run.

::

    review = review_campaign(Campaign.load("spring.yaml"), budget=Decimal(20))
    review.accepted            # combinations compliance lets through
    review.fitting             # accepted ones within the budget, in run order
    write_report(review, out / review.batch_name)   # compliance.csv + compliance.json
    await run_campaign(engine, review, out=out)     # rejected ones recorded, never sent
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from reelforge.app.batchrun import BatchResult, check_resumable
from reelforge.batch import Batch
from reelforge.campaign import Campaign, CampaignPlan, PlannedCombination
from reelforge.campaign.writer import PromptWriter
from reelforge.compliance import BrandRules, ComplianceResult, Finding, RulePack, Verdict, check
from reelforge.compliance.moderation import DEFAULT_MODERATION_MODEL, moderate
from reelforge.core.errors import ErrorCategory, InvalidSpecError
from reelforge.core.files import write_atomic_json
from reelforge.core.models import JobState
from reelforge.core.pricing import PriceTable, default_prices
from reelforge.engine import Engine
from reelforge.engine.runner import BatchSlices, SlicedJob
from reelforge.providers.registry import Providers
from reelforge.store import BatchSummary, Store

if TYPE_CHECKING:
    import openai

__all__ = [
    "CampaignResult",
    "CampaignReview",
    "CampaignTotals",
    "ReviewedCombination",
    "prepare_recorded",
    "prepare_review",
    "review_campaign",
    "review_slices",
    "review_totals",
    "run_campaign",
    "submit_campaign",
    "write_report",
]

_UNSENT = frozenset({JobState.PENDING, JobState.WAITING})
REPORT_CSV = "compliance.csv"
REPORT_JSON = "compliance.json"
SLICE = 5000
"""Combinations planned, reviewed and recorded at a time by :func:`submit_campaign`."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ReviewedCombination:
    """One planned combination with its compliance result, cost and place in the budget."""

    combination: PlannedCombination
    compliance: ComplianceResult
    estimated_cost: Decimal | None
    fits: bool
    """Accepted and within the budget: the accepted combinations fit in run order, up to the
    first one that would cross the budget."""
    rendered_prompt: str | None = None
    """The template's prompt, when the prompt writer replaced it."""

    @property
    def accepted(self) -> bool:
        """Whether compliance lets the prompt be sent (warnings allowed)."""
        return self.compliance.ok

    @property
    def verdict(self) -> Verdict:
        """``clean``, ``warn`` or ``reject``."""
        return self.compliance.verdict

    @property
    def reason(self) -> str:
        """The blocking findings in one line (empty when accepted)."""
        return "; ".join(str(f) for f in self.compliance.errors)

    def to_dict(self) -> dict[str, object]:
        """The JSON form (``campaign plan --json`` and ``compliance.json``)."""
        c = self.combination
        return {
            "id": c.id,
            "name": c.name,
            "key": c.key,
            "dimensions": dict(c.dimensions),
            "verdict": self.verdict.value,
            "findings": [_finding_dict(f) for f in self.compliance.findings],
            "model": c.spec.model,
            "seconds": c.spec.seconds,
            "size": c.spec.size,
            "estimated_cost": _money(self.estimated_cost),
            "fits_budget": self.fits,
            "prompt": c.prompt,
            "rendered_prompt": self.rendered_prompt,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignReview:
    """A campaign's plan after compliance and costing: what will be sent and what it costs."""

    campaign: Campaign
    plan: CampaignPlan
    combinations: tuple[ReviewedCombination, ...]
    budget: Decimal | None = None
    reviewed_at: float = field(default_factory=time.time)

    @property
    def batch_name(self) -> str:
        """The batch the campaign runs as (its slug)."""
        return self.plan.campaign

    @property
    def accepted(self) -> tuple[ReviewedCombination, ...]:
        """Combinations compliance lets through, in plan order."""
        return tuple(c for c in self.combinations if c.accepted)

    @property
    def rejected(self) -> tuple[ReviewedCombination, ...]:
        """Combinations compliance blocks: recorded as ``rejected``, never sent."""
        return tuple(c for c in self.combinations if not c.accepted)

    @property
    def fitting(self) -> tuple[ReviewedCombination, ...]:
        """Accepted combinations within the budget (all accepted ones without a budget)."""
        return tuple(c for c in self.combinations if c.fits)

    @property
    def estimated_total(self) -> Decimal:
        """Estimated dollars for every accepted combination (unpriced ones count 0)."""
        return sum((c.estimated_cost or Decimal(0) for c in self.accepted), Decimal(0))

    @property
    def unpriced(self) -> tuple[ReviewedCombination, ...]:
        """Accepted combinations whose model has no known price."""
        return tuple(c for c in self.accepted if c.estimated_cost is None)

    @property
    def over_budget(self) -> bool:
        """Whether some accepted combination does not fit the budget."""
        return len(self.fitting) < len(self.accepted)

    def to_batch(self) -> Batch:
        """Every combination as a batch (rejected ones too, so they are recorded)."""
        return self.plan.to_batch()

    def rejections(self) -> dict[str, str]:
        """Job key → the reasons compliance blocked it."""
        return {c.combination.key: c.reason for c in self.rejected}

    def check_budget(self) -> None:
        """Raise :class:`InvalidSpecError` (field ``budget``) when the accepted combinations
        cost more than the budget (or cannot be priced under one), naming those that fit."""
        if self.budget is None:
            return
        if self.unpriced:
            names = ", ".join(c.combination.name for c in self.unpriced)
            raise InvalidSpecError(
                f"budget: no price is known for {names}, so the campaign cannot be kept within "
                f"${self.budget:.2f}",
                field="budget",
                value=str(self.budget),
            )
        if not self.over_budget:
            return
        fitting = self.fitting
        cost = sum((c.estimated_cost or Decimal(0) for c in fitting), Decimal(0))
        raise InvalidSpecError(
            f"budget: the {len(self.accepted)} accepted combinations are estimated at "
            f"${self.estimated_total:.2f}, over the budget of ${self.budget:.2f}; "
            f"the first {len(fitting)} fit (${cost:.2f}). Raise --budget to at least "
            f"${self.estimated_total:.2f}, or lower the campaign's limit. "
            "Nothing was sent.",
            field="budget",
            value=str(self.budget),
        )

    def totals(self) -> CampaignTotals:
        """The review's counts, as a streamed review counts them."""
        totals = CampaignTotals(budget=self.budget)
        for item in self.combinations:
            totals.add(item)
        return totals

    def to_dict(self) -> dict[str, object]:
        """The JSON form of the whole review (``campaign plan --json``, ``compliance.json``)."""
        return {
            **_report_head(self.campaign, self.batch_name, self.reviewed_at),
            "totals": self.totals().to_dict(),
            "combinations": [c.to_dict() for c in self.combinations],
        }


def _report_head(campaign: Campaign, batch: str, reviewed_at: float) -> dict[str, object]:
    """What a review's JSON says before its totals: the campaign, its batch and when."""
    return {
        "campaign": campaign.name,
        "batch": batch,
        "brand": campaign.brand,
        "product_category": campaign.product_category,
        "big_idea": campaign.big_idea,
        "dimensions": list(campaign.dimensions),
        "reviewed_at": reviewed_at,
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignResult:
    """How a campaign run ended: its review, the batch's result and the report files."""

    review: CampaignReview
    batch: BatchResult
    report: tuple[Path, Path]
    """``compliance.csv`` and ``compliance.json``."""

    @property
    def ok(self) -> bool:
        """Whether every accepted combination's job is done."""
        accepted = {c.combination.key for c in self.review.accepted}
        return all(job.state is JobState.DONE for job in self.batch.jobs if job.key in accepted)

    @property
    def still_rejected(self) -> tuple[str, ...]:
        """Accepted combinations whose job an earlier run rejected: ``rejected`` is final, so
        they are not sent (run the campaign under another name to make them)."""
        accepted = {c.combination.key for c in self.review.accepted}
        return tuple(
            job.key
            for job in self.batch.jobs
            if job.key in accepted and job.state is JobState.REJECTED
        )


def review_campaign(
    campaign: Campaign,
    *,
    plan: CampaignPlan | None = None,
    prompts: Mapping[str, str] | None = None,
    extra_findings: Mapping[str, Sequence[Finding]] | None = None,
    budget: Decimal | None = None,
    prices: PriceTable | None = None,
    packs: Sequence[RulePack] | None = None,
) -> CampaignReview:
    """Check every combination of ``campaign`` and price the accepted ones.

    ``prompts`` replaces planned prompts by combination id (the prompt writer's output);
    ``extra_findings`` adds findings by combination id (the moderation check's). Combinations
    fit the budget in plan order, the order in which the batch runs them.
    """
    plan = plan or campaign.plan()
    reviewer = _Reviewer(
        campaign,
        prompts=prompts,
        extra_findings=extra_findings,
        budget=budget,
        prices=prices,
        packs=packs,
    )
    reviewed = [reviewer.review(planned) for planned in plan.combinations]
    final_plan = replace(plan, combinations=tuple(r.combination for r in reviewed))
    return CampaignReview(
        campaign=campaign, plan=final_plan, combinations=tuple(reviewed), budget=budget
    )


class _Reviewer:
    """Reviews combinations one by one in plan order (the budget is a prefix of them)."""

    def __init__(
        self,
        campaign: Campaign,
        *,
        prompts: Mapping[str, str] | None = None,
        extra_findings: Mapping[str, Sequence[Finding]] | None = None,
        budget: Decimal | None = None,
        prices: PriceTable | None = None,
        packs: Sequence[RulePack] | None = None,
    ) -> None:
        self.prompts = prompts
        self.extra_findings = extra_findings
        self.budget = budget
        self.table = prices or default_prices()
        self.packs = packs
        self.rules = _brand_rules(campaign)
        self.spent = Decimal(0)
        self.exhausted = False

    def review(self, planned: PlannedCombination) -> ReviewedCombination:
        prompts, budget = self.prompts, self.budget
        combination, rendered = planned, None
        if prompts and planned.id in prompts and prompts[planned.id] != planned.prompt:
            text = prompts[planned.id]
            combination = replace(planned, prompt=text, spec=replace(planned.spec, prompt=text))
            rendered = planned.prompt
        result = check(
            combination.prompt, spec=combination.spec, packs=self.packs, brand_rules=self.rules
        )
        extra = tuple((self.extra_findings or {}).get(planned.id, ()))
        if extra:
            result = ComplianceResult(findings=result.findings + extra)
        cost = self.table.estimate(combination.spec)
        fits = result.ok
        if fits and budget is not None:
            # A prefix: once one accepted combination does not fit, none after it does.
            fits = not self.exhausted and cost is not None and self.spent + cost <= budget
            self.exhausted = not fits
            self.spent += cost or Decimal(0) if fits else Decimal(0)
        return ReviewedCombination(
            combination=combination,
            compliance=result,
            estimated_cost=cost,
            fits=fits,
            rendered_prompt=rendered,
        )


@dataclass(kw_only=True, slots=True)
class CampaignTotals:
    """What a streamed review counted (:func:`review_totals`, :func:`submit_campaign`): the
    ``totals`` of :meth:`CampaignReview.to_dict` without holding the combinations."""

    combinations: int = 0
    accepted: int = 0
    with_warnings: int = 0
    rejected: int = 0
    estimated_cost: Decimal = Decimal(0)
    """Estimated dollars for every accepted combination (unpriced ones count 0)."""
    unpriced: int = 0
    """Accepted combinations whose model has no known price."""
    fitting: int = 0
    budget: Decimal | None = None

    def add(self, item: ReviewedCombination) -> None:
        """Count one reviewed combination."""
        self.combinations += 1
        if item.accepted:
            self.accepted += 1
            self.with_warnings += item.verdict is Verdict.WARN
            if item.estimated_cost is None:
                self.unpriced += 1
            else:
                self.estimated_cost += item.estimated_cost
        else:
            self.rejected += 1
        self.fitting += item.fits

    def check_budget(self) -> None:
        """As :meth:`CampaignReview.check_budget`, from the counts alone."""
        if self.budget is None:
            return
        if self.unpriced:
            raise InvalidSpecError(
                f"budget: no price is known for {self.unpriced} accepted combinations, so the "
                f"campaign cannot be kept within ${self.budget:.2f}",
                field="budget",
                value=str(self.budget),
            )
        if self.fitting < self.accepted:
            raise InvalidSpecError(
                f"budget: the {self.accepted} accepted combinations are estimated at "
                f"${self.estimated_cost:.2f}, over the budget of ${self.budget:.2f}; "
                f"the first {self.fitting} fit. Raise --budget to at least "
                f"${self.estimated_cost:.2f}, or lower the campaign's limit. Nothing was sent.",
                field="budget",
                value=str(self.budget),
            )

    def to_dict(self) -> dict[str, object]:
        """The ``totals`` of :meth:`CampaignReview.to_dict`."""
        return {
            "combinations": self.combinations,
            "accepted": self.accepted,
            "with_warnings": self.with_warnings,
            "rejected": self.rejected,
            "estimated_cost": _money(self.estimated_cost),
            "budget": _money(self.budget),
            "fitting": self.fitting,
            "over_budget": self.fitting < self.accepted,
        }


def review_slices(
    campaign: Campaign,
    *,
    size: int = SLICE,
    budget: Decimal | None = None,
    prices: PriceTable | None = None,
    packs: Sequence[RulePack] | None = None,
) -> Iterator[tuple[ReviewedCombination, ...]]:
    """:func:`review_campaign` a slice of ``size`` combinations at a time, in plan order (the
    same results, one slice held at a time); planning problems raise as
    :meth:`Campaign.plan_slices` does."""
    reviewer = _Reviewer(campaign, budget=budget, prices=prices, packs=packs)
    for planned in campaign.plan_slices(size):
        yield tuple(reviewer.review(item) for item in planned)


def review_totals(
    campaign: Campaign,
    *,
    size: int = SLICE,
    budget: Decimal | None = None,
    prices: PriceTable | None = None,
    packs: Sequence[RulePack] | None = None,
) -> CampaignTotals:
    """The review's totals, counted a slice at a time."""
    totals = CampaignTotals(budget=budget)
    for part in review_slices(campaign, size=size, budget=budget, prices=prices, packs=packs):
        for item in part:
            totals.add(item)
    return totals


async def submit_campaign(
    engine: Engine,
    campaign: Campaign,
    *,
    out: Path,
    budget: Decimal | None = None,
    prices: PriceTable | None = None,
    packs: Sequence[RulePack] | None = None,
    size: int = SLICE,
) -> tuple[str, CampaignTotals]:
    """The library path of ``campaign run`` for a campaign too large to hold in memory (a
    million combinations): plan, review and record a slice of ``size`` combinations at a
    time, then enqueue every accepted job (read back a page at a time); return the batch id
    and the review's totals. :func:`wait <reelforge.engine.Engine.wait>` on the batch id
    runs it to the end.

    What is recorded and enqueued is what :func:`run_campaign` records and enqueues: rejected
    combinations are recorded ``rejected``, never sent. With a budget the campaign is reviewed
    once first (counts only) and refused, nothing recorded, when it does not fit. The report
    is ``compliance.csv`` (one row per combination, written as the slices go) and a
    ``compliance.json`` holding the totals only.
    """
    if budget is not None:
        totals = await asyncio.to_thread(
            review_totals, campaign, size=size, budget=budget, prices=prices, packs=packs
        )
        totals.check_budget()
    folder = out / campaign.slug
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / REPORT_CSV
    tmp = csv_path.with_name(f".{csv_path.name}.tmp")
    totals = CampaignTotals(budget=budget)
    dimensions = list(campaign.dimensions)
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(_csv_header(dimensions))

        def slices() -> Iterator[list[SlicedJob]]:
            reviewed = review_slices(campaign, size=size, budget=budget, prices=prices, packs=packs)
            for part in reviewed:
                jobs = []
                for item in part:
                    position = totals.combinations
                    totals.add(item)
                    writer.writerow(_csv_row(item, dimensions))
                    c = item.combination
                    reason = None if item.accepted else item.reason
                    jobs.append(
                        SlicedJob(key=c.key, spec=c.spec, position=position, rejected=reason)
                    )
                yield jobs

        batch_id = await engine.submit(
            BatchSlices(name=campaign.slug, slices=slices(), source=campaign.source),
            out=out,
            budget=budget,
        )
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(csv_path)
    document = {
        **_report_head(campaign, campaign.slug, time.time()),
        "totals": totals.to_dict(),
        "combinations_in": REPORT_CSV,
    }
    write_atomic_json(folder / REPORT_JSON, document)
    return batch_id, totals


async def prepare_review(
    campaign: Campaign,
    *,
    writer: PromptWriter | None = None,
    moderation: openai.AsyncOpenAI | None = None,
    moderation_model: str = DEFAULT_MODERATION_MODEL,
    budget: Decimal | None = None,
    prices: PriceTable | None = None,
) -> CampaignReview:
    """:func:`review_campaign` with the optional network stages first: ``writer`` rewrites
    every planned prompt (cached by input), then ``moderation`` (a client) runs the
    moderation check on the final prompts; its flags become blocking findings."""
    plan = campaign.plan()
    finals = [c.prompt for c in plan.combinations]
    prompts: dict[str, str] | None = None
    if writer is not None:
        finals = await writer.write_many(finals)
        prompts = {c.id: text for c, text in zip(plan.combinations, finals, strict=True)}
    extra: dict[str, Sequence[Finding]] | None = None
    if moderation is not None:
        results = await moderate(moderation, finals, model=moderation_model)
        extra = {c.id: r.findings() for c, r in zip(plan.combinations, results, strict=True)}
    return review_campaign(
        campaign, plan=plan, prompts=prompts, extra_findings=extra, budget=budget, prices=prices
    )


def prepare_recorded(store: Store, review: CampaignReview, *, providers: Providers) -> int:
    """Before the engine starts, make what an earlier run of the campaign recorded agree with
    this review, so that no recovered workflow sends what this review would not; return how
    many jobs were rejected.

    Jobs not sent yet (``pending``/``waiting``) are rejected when compliance now rejects their
    combination, when their combination left the plan (excluded, renamed, out of the sample),
    or when they were recorded with another prompt or parameters that today's rules reject
    (a recorded job keeps its recorded spec). Unfinished jobs recorded with another endpoint
    or key stop the run (:func:`~reelforge.app.batchrun.check_resumable`).
    """
    check_resumable(store, review.batch_name, providers=providers)
    planned = {item.combination.key: item for item in review.combinations}
    rules = _brand_rules(review.campaign)
    rejected = 0
    for job in store.jobs(review.batch_name):
        if job.state not in _UNSENT:
            continue
        item = planned.get(job.key)
        if item is None:
            reason = (
                "not in the campaign any more (excluded, renamed or out of the sample): not sent"
            )
        elif not item.accepted:
            reason = item.reason
        elif job.spec != item.combination.spec:
            result = check(job.prompt, spec=job.spec, brand_rules=rules)
            reason = "; ".join(str(f) for f in result.errors) if not result.ok else ""
        else:
            reason = ""
        if reason and store.transition(
            job.id,
            JobState.REJECTED,
            expect=_UNSENT,
            category=ErrorCategory.COMPLIANCE,
            error=reason,
        ):
            rejected += 1
    return rejected


def write_report(review: CampaignReview, folder: Path) -> tuple[Path, Path]:
    """Write ``compliance.csv`` and ``compliance.json`` into ``folder`` (atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / REPORT_JSON
    write_atomic_json(json_path, review.to_dict())
    csv_path = folder / REPORT_CSV
    _write_text_atomic(csv_path, _report_csv(review))
    return csv_path, json_path


async def run_campaign(
    engine: Engine,
    review: CampaignReview,
    *,
    out: Path,
    on_update: Callable[[BatchSummary], None] | None = None,
) -> CampaignResult:
    """Write the compliance report, record rejected combinations, run the accepted ones.

    Refuses (:class:`InvalidSpecError`, nothing sent) when the accepted combinations do not
    fit the review's budget; the budget also caps the engine's admissions.
    """
    review.check_budget()
    report = write_report(review, out / review.batch_name)
    batch_id = await engine.submit(
        review.to_batch(), out=out, budget=review.budget, rejected=review.rejections()
    )
    summary = await engine.wait(batch_id, on_update=on_update)
    result = BatchResult(
        batch_id=batch_id,
        summary=summary,
        jobs=tuple(engine.store.jobs(batch_id)),
        out_dir=out / review.batch_name,
    )
    return CampaignResult(review=review, batch=result, report=report)


def _brand_rules(campaign: Campaign) -> BrandRules:
    return BrandRules(
        banned_words=campaign.rules.banned_words,
        required_phrases=campaign.rules.required_phrases,
        competitors=campaign.rules.competitors,
    )


def _report_csv(review: CampaignReview) -> str:
    dimensions = list(review.campaign.dimensions)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_csv_header(dimensions))
    for item in review.combinations:
        writer.writerow(_csv_row(item, dimensions))
    return buffer.getvalue()


def _csv_header(dimensions: Sequence[str]) -> list[str]:
    return [
        "combination_id",
        "name",
        *dimensions,
        "verdict",
        "reasons",
        "model",
        "seconds",
        "size",
        "estimated_cost",
        "fits_budget",
        "prompt",
    ]


def _csv_row(item: ReviewedCombination, dimensions: Sequence[str]) -> list[object]:
    c = item.combination
    return [
        c.id,
        c.name,
        *(c.dimensions.get(name, "") for name in dimensions),
        item.verdict.value,
        " | ".join(item.compliance.reasons),
        c.spec.model,
        c.spec.seconds,
        c.spec.size,
        _money(item.estimated_cost) or "",
        "yes" if item.fits else "no",
        c.prompt,
    ]


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def _finding_dict(finding: Finding) -> dict[str, object]:
    return {
        "rule": finding.rule_id,
        "severity": str(finding.severity),
        "pack": finding.pack,
        "category": finding.category,
        "message": finding.message,
        "text": finding.text,
        "start": finding.start,
        "end": finding.end,
    }


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"
