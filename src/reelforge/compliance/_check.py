"""Running the packs and the structural checks over one prompt.

**Screening.** Running every pattern of every rule over every prompt costs about a millisecond
a prompt (a campaign of a million combinations spent most of its review there), so each rule
is screened first by a test that can only say "maybe": a rule is run in full only when the
screen says maybe, and a rule the screen rules out is exactly what the full run would have
found (no match; a ``required`` rule fires). A phrase pattern's match consists of its words'
letters with only non-word characters between them (``_matcher``), so with every
non-word character deleted from the normalized text, the letters of any one word of the phrase
(``i`` and ``l`` read alike) stand together in what is left: a word's letters common to all its
inflections are the rule's *key* for that pattern, found with a plain substring test. Regex
rules have no such key; their regexes are searched as they are. The verdict and every finding
are the same as without the screen (``tests/compliance`` compares the two on many prompts).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache

from reelforge.compliance._matcher import WORD, inflections
from reelforge.compliance._normalize import NormalizedText, normalize, normalize_views
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
    return _check(prompt, spec, packs, brand_rules, screened=True)


def _check(
    prompt: str,
    spec: JobSpec | None,
    packs: Sequence[RulePack] | None,
    brand_rules: BrandRules | None,
    *,
    screened: bool,
) -> ComplianceResult:
    """:func:`check`; ``screened=False`` runs every rule in full (the reference for tests)."""
    selected = list(load_packs() if packs is None else packs)
    if brand_rules is not None:
        selected.append(_brand_pack(brand_rules))
    findings = list(_structural(prompt, spec))
    views = normalize_views(prompt)
    if not screened:
        for pack in selected:
            for rule in pack.rules:
                findings.extend(_run_rule(rule, pack.name, prompt, views))
        return ComplianceResult(findings=tuple(findings))
    texts = tuple({v.text for v in views})
    letters = tuple({_letters(text) for text in texts})
    for pack in selected:
        screen = _screen(pack)
        hit = any(screen.keys.search(s) for s in letters)
        for ruled in screen.rules:
            if ruled.maybe(texts, letters if hit else ()):
                findings.extend(_run_rule(ruled.rule, pack.name, prompt, views))
            elif ruled.rule.required:
                findings.append(_finding(ruled.rule, pack.name))
    return ComplianceResult(findings=tuple(findings))


_NOT_WORD = re.compile(r"[\W_]+")


def _letters(text: str) -> str:
    """``text`` (normalized) with every non-word character deleted and ``l`` read as ``i``."""
    return _NOT_WORD.sub("", text).replace("l", "i")


def _key(pattern: str, rule: Rule) -> str:
    """Letters that every match of the phrase ``pattern`` has together once non-word
    characters are deleted: the longest common beginning of one word's forms (as
    ``compile_phrase`` builds them). May be empty (then every text is a maybe)."""
    best = ""
    for word in WORD.findall(normalize(pattern)):
        forms = inflections(word) if rule.inflect and word.isalpha() else (word,)
        common = _common_start(forms).replace("l", "i")
        if len(common) > len(best):
            best = common
    return best


def _common_start(words: Sequence[str]) -> str:
    """The longest beginning all of ``words`` share."""
    first = min(words)
    last = max(words)
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    return first[:size]


@dataclass(frozen=True, slots=True)
class _RuleScreen:
    rule: Rule
    keys: tuple[str, ...]
    regexes: tuple[re.Pattern[str], ...]

    def maybe(self, texts: Sequence[str], letters: Sequence[str]) -> bool:
        """False only when no pattern of the rule can match any of ``texts`` (whose
        :func:`_letters` are ``letters``; none given when the pack's screen found no key)."""
        if any(key in s for s in letters for key in self.keys):
            return True
        return any(regex.search(text) is not None for regex in self.regexes for text in texts)


@dataclass(frozen=True, slots=True)
class _PackScreen:
    keys: re.Pattern[str]
    """Any key of any rule of the pack."""
    rules: tuple[_RuleScreen, ...]


_SCREENS: dict[int, tuple[RulePack, _PackScreen]] = {}
_SCREENS_MAX = 256


def _screen(pack: RulePack) -> _PackScreen:
    """The pack's screen, built once per pack object."""
    cached = _SCREENS.get(id(pack))
    if cached is not None and cached[0] is pack:
        return cached[1]
    rules = tuple(
        _RuleScreen(
            rule=rule,
            keys=tuple(dict.fromkeys(_key(p, rule) for p in rule.patterns)),
            regexes=tuple(re.compile(r) for r in rule.regexes),
        )
        for rule in pack.rules
    )
    keys = sorted({key for rule in rules for key in rule.keys}, key=lambda k: (-len(k), k))
    # No key at all: a pattern that never matches (so the rules' own keys decide nothing).
    screen = _PackScreen(
        keys=re.compile("|".join(re.escape(k) for k in keys) if keys else r"(?!)"),
        rules=rules,
    )
    if len(_SCREENS) >= _SCREENS_MAX:
        _SCREENS.clear()
    _SCREENS[id(pack)] = (pack, screen)
    return screen


@lru_cache(maxsize=64)
def _brand_pack(rules: BrandRules) -> RulePack:
    return rules.to_pack()


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
