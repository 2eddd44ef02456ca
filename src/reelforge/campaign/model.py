"""A loaded campaign and its plan: one validated job spec per combination."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from reelforge.batch import Batch
from reelforge.batch.specs import describe, spec_problems
from reelforge.campaign.errors import CampaignError, CampaignIssue
from reelforge.campaign.expand import (
    Combination,
    combination_id,
    iter_expand,
    iter_names,
    matches,
)
from reelforge.campaign.load import Checked, context, merge_spec, read_campaign
from reelforge.campaign.template import TemplateProblem, render
from reelforge.core.models import JobSpec
from reelforge.core.naming import slugify

__all__ = ["Campaign", "CampaignPlan", "CampaignRules", "PlannedCombination"]


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignRules:
    """The campaign's brand rules, applied by compliance on top of the built-in packs."""

    banned_words: tuple[str, ...] = ()
    required_phrases: tuple[str, ...] = ()
    competitors: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedCombination:
    """One combination of dimension values, its prompt and its validated job spec.

    ``id`` is a digest of the dimension values alone (stable across files that list the
    dimensions in another order); ``name`` is readable and safe as a folder name; ``key`` is the
    job's key in the campaign's batch (the name).
    """

    id: str
    name: str
    dimensions: Mapping[str, str]
    prompt: str
    spec: JobSpec

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", MappingProxyType(dict(self.dimensions)))

    @property
    def key(self) -> str:
        """The job's key in :meth:`CampaignPlan.to_batch`."""
        return self.name


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignPlan:
    """Every planned combination, in product order."""

    campaign: str
    """The campaign's slug: the batch name."""
    combinations: tuple[PlannedCombination, ...]

    def __len__(self) -> int:
        return len(self.combinations)

    def to_batch(self) -> Batch:
        """A :class:`~reelforge.batch.Batch` named after the campaign, keyed by names."""
        return Batch.from_specs(self.campaign, {c.key: c.spec for c in self.combinations})


@dataclass(frozen=True, kw_only=True, slots=True)
class Campaign:
    """A checked campaign file. Load one with :meth:`Campaign.load`; plan it with :meth:`plan`."""

    name: str
    brand: str
    product_category: str
    big_idea: str
    dimensions: Mapping[str, tuple[str, ...]]
    limit: int | None
    seed: int
    template: str
    rules: CampaignRules
    source: Path | None = None
    _checked: Checked = field(repr=False, compare=False)

    @classmethod
    def load(cls, path: Path | str) -> Campaign:
        """Read and check the campaign file at ``path``. Raises :class:`CampaignError`."""
        checked = read_campaign(Path(path))
        shape = checked.shape
        return cls(
            name=shape.campaign,
            brand=shape.brand,
            product_category=shape.product_category,
            big_idea=shape.big_idea,
            dimensions=MappingProxyType(
                {name: tuple(values) for name, values in shape.dimensions.items()}
            ),
            limit=shape.limit,
            seed=shape.seed,
            template=shape.template,
            rules=CampaignRules(
                banned_words=tuple(shape.rules.banned_words),
                required_phrases=tuple(shape.rules.required_phrases),
                competitors=tuple(shape.rules.competitors),
            ),
            source=Path(path),
            _checked=checked,
        )

    @property
    def exclude(self) -> tuple[Mapping[str, str], ...]:
        """The partial combinations left out of the product, in file order."""
        return tuple(MappingProxyType(dict(e)) for e in self._checked.shape.exclude)

    @property
    def overrides(self) -> tuple[tuple[Mapping[str, str], Mapping[str, object]], ...]:
        """``(when, set)`` for each override, in file order; ``set`` holds only given fields."""
        return tuple(
            (
                MappingProxyType(dict(o.when)),
                MappingProxyType(o.set_.model_dump(exclude_none=True)),
            )
            for o in self._checked.shape.overrides
        )

    @property
    def slug(self) -> str:
        """The campaign's name as a batch name (``Spring Launch`` → ``spring-launch``)."""
        return slugify(self.name, max_length=64, fallback="campaign")

    def plan(self) -> CampaignPlan:
        """Every combination with its prompt and validated spec. Raises :class:`CampaignError`
        naming every combination that cannot be planned."""
        planned = []
        issues = []
        for item in self._planned():
            if isinstance(item, CampaignIssue):
                issues.append(item)
            else:
                planned.append(item)
        if issues:
            raise CampaignError(issues)
        return CampaignPlan(campaign=self.slug, combinations=tuple(planned))

    def plan_slices(self, size: int = 5000) -> Iterator[tuple[PlannedCombination, ...]]:
        """:meth:`plan` a slice of at most ``size`` combinations at a time, in the same order,
        without holding the whole plan (a campaign of a million combinations).

        Raises :class:`CampaignError` at the first slice holding a combination that cannot be
        planned (naming those of that slice), after the slices before it were given.
        """
        items = self._planned()
        while chunk := tuple(itertools.islice(items, size)):
            issues = [item for item in chunk if isinstance(item, CampaignIssue)]
            if issues:
                raise CampaignError(issues)
            yield tuple(item for item in chunk if isinstance(item, PlannedCombination))

    def _planned(self) -> Iterator[PlannedCombination | CampaignIssue]:
        shape = self._checked.shape
        combinations = iter_expand(self.dimensions, shape.exclude, self.limit, self.seed)
        base = merge_spec(JobSpec(prompt="x"), shape.defaults, self._checked.base_dir)
        for name, combination in iter_names(self.dimensions, combinations):
            try:
                yield self._one(base, name, combination)
            except _PlanProblem as exc:
                yield exc.issue

    def _one(self, base: JobSpec, name: str, combination: Combination) -> PlannedCombination:
        checked = self._checked
        shape = checked.shape
        ident = combination_id(combination)
        spec = base
        for override in shape.overrides:
            if matches(combination, override.when):
                spec = merge_spec(spec, override.set_, checked.base_dir)
        try:
            prompt = render(checked.template, context(shape, combination))
        except TemplateProblem as exc:
            raise _PlanProblem(
                checked.locator.issue(("template",), f"combination {name}: {exc.message}")
            ) from exc
        labels = {
            **spec.labels,
            "campaign": self.name,
            "brand": self.brand,
            "product_category": self.product_category,
            "big_idea": self.big_idea,
            "combination_id": ident,
            "dimensions": ",".join(name for name, _ in combination),
            **dict(combination),
        }
        valid, problems = spec_problems(replace(spec, prompt=prompt, labels=labels))
        if valid is None:
            problem = problems[0]
            message = f"combination {name}: {problem.field} {describe(problem, spec, None)}"
            raise _PlanProblem(checked.locator.issue(("template",), message, value=problem.value))
        return PlannedCombination(
            id=ident, name=name, dimensions=dict(combination), prompt=prompt, spec=valid
        )


class _PlanProblem(Exception):
    def __init__(self, issue: CampaignIssue) -> None:
        super().__init__(str(issue))
        self.issue = issue
