"""Running the packs and the structural checks over one prompt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from reelforge.compliance._normalize import NormalizedText, normalize_views
from reelforge.compliance._packs import BrandRules, Rule, RulePack, Severity, load_packs
from reelforge.core.capabilities import MAX_PROMPT_CHARS, capabilities_for, validate_spec
from reelforge.core.errors import InvalidSpecError
from reelforge.core.models import JobSpec

__all__ = ["ComplianceResult", "Finding", "Verdict", "check"]

STRUCTURE_PACK = "structure"


class Verdict(StrEnum):
    """The outcome of a check, in one word."""

    CLEAN = "clean"
    """No findings at all."""
    WARN = "warn"
    """Only warnings: the prompt may be sent; the warnings are recorded."""
    REJECT = "reject"
    """At least one error: the prompt must not be sent."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """One rule that fired. ``start``/``end``/``text`` locate the match in the original prompt.

    They are ``None`` for findings about the whole prompt (a missing phrase, a structural check).
    """

    rule_id: str
    severity: Severity
    message: str
    pack: str
    category: str | None = None
    start: int | None = None
    end: int | None = None
    text: str | None = None

    def __str__(self) -> str:
        where = f" ({self.text!r} at {self.start})" if self.text is not None else ""
        return f"{self.severity}: {self.rule_id}: {self.message}{where}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ComplianceResult:
    """Every finding for one prompt, in prompt order within each pack."""

    findings: tuple[Finding, ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings that block the prompt."""
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Findings that are only recorded."""
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        """True when nothing blocks the prompt (warnings allowed)."""
        return not self.errors

    @property
    def verdict(self) -> Verdict:
        """:class:`Verdict` summarizing the findings."""
        if self.errors:
            return Verdict.REJECT
        return Verdict.WARN if self.findings else Verdict.CLEAN

    @property
    def reasons(self) -> tuple[str, ...]:
        """One readable line per finding."""
        return tuple(str(f) for f in self.findings)


def check(
    prompt: str,
    *,
    spec: JobSpec | None = None,
    packs: Sequence[RulePack] | None = None,
    brand_rules: BrandRules | None = None,
) -> ComplianceResult:
    """Check ``prompt`` against ``packs`` (default: the built-in ones), brand rules and structure.

    With ``spec``, its model's prompt limit applies and its parameters are validated against the
    model's capabilities (with ``prompt`` in place of ``spec.prompt``).
    """
    selected = list(load_packs() if packs is None else packs)
    if brand_rules is not None:
        selected.append(brand_rules.to_pack())
    findings = list(_structural(prompt, spec))
    views = normalize_views(prompt)
    for pack in selected:
        for rule in pack.rules:
            findings.extend(_run_rule(rule, pack.name, prompt, views))
    return ComplianceResult(findings=tuple(findings))


def _run_rule(rule: Rule, pack: str, prompt: str, views: Sequence[NormalizedText]) -> list[Finding]:
    spans: set[tuple[int, int]] = set()
    for view in {v.text: v for v in views}.values():
        for matcher in rule.matchers():
            for start, end in matcher.finditer(view.text):
                spans.add(view.span(start, end))
    if rule.required:
        if spans:
            return []
        return [_finding(rule, pack)]
    # Keep the widest match of overlapping ones (the leet view may match more than the plain one).
    kept: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
        if kept and start < kept[-1][1]:
            continue
        kept.append((start, end))
    return [_finding(rule, pack, start=s, end=e, text=prompt[s:e]) for s, e in kept]


def _finding(
    rule: Rule,
    pack: str,
    *,
    start: int | None = None,
    end: int | None = None,
    text: str | None = None,
) -> Finding:
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        message=rule.message,
        pack=pack,
        category=rule.category,
        start=start,
        end=end,
        text=text,
    )


def _structural(prompt: str, spec: JobSpec | None) -> list[Finding]:
    def error(rule_id: str, message: str) -> Finding:
        return Finding(
            rule_id=rule_id,
            severity=Severity.ERROR,
            message=message,
            pack=STRUCTURE_PACK,
            category="structure",
        )

    if not prompt.strip():
        return [error("structure.empty", "prompt is empty")]
    limit = (
        capabilities_for(spec.model, spec.provider).max_prompt_chars
        if spec is not None
        else MAX_PROMPT_CHARS
    )
    findings = []
    if len(prompt) > limit:
        findings.append(
            error(
                "structure.length", f"prompt is {len(prompt)} characters; at most {limit} allowed"
            )
        )
    if spec is not None:
        try:
            # The length was checked above; a cut prompt lets every other parameter be checked too.
            validate_spec(replace(spec, prompt=prompt[:limit]))
        except InvalidSpecError as exc:
            findings.append(error(f"structure.{exc.field}", exc.message))
    return findings
