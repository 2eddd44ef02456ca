"""Rules and rule packs: YAML files validated with pydantic, and brand rules from a campaign."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reelforge.compliance._matcher import Matcher, compile_phrase, compile_regex
from reelforge.core.errors import ReelforgeError

__all__ = [
    "BUILTIN_PACKS",
    "BrandRules",
    "Rule",
    "RulePack",
    "RulePackError",
    "Severity",
    "load_packs",
]

BUILTIN_PACKS = ("content_policy", "advertising_claims")
"""The packs shipped in ``reelforge/compliance/packs``, in the order they are checked."""


class RulePackError(ReelforgeError):
    """A rule pack file is unreadable, not YAML, or not a valid pack; ``source`` names it."""

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class Severity(StrEnum):
    """How a finding weighs on the verdict."""

    ERROR = "error"
    """Blocks the prompt: the job is rejected and never sent."""
    WARNING = "warning"
    """Recorded with the job; does not block it."""


class Rule(BaseModel):
    """One rule: a prompt matching any of its patterns (or missing them, if ``required``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    severity: Severity
    message: str = Field(min_length=1)
    category: str | None = None
    patterns: tuple[str, ...] = ()
    """Words or phrases, matched on word boundaries after normalization."""
    regexes: tuple[str, ...] = ()
    """Regular expressions, run as written over the normalized (casefolded) prompt."""
    inflect: bool = True
    """Also match plurals and simple inflections of each word (``cure`` → ``cures``, ``cured``)."""
    substring: bool = False
    """Match inside longer words too (``scar`` in ``Scarface``). Off by default."""
    required: bool = False
    """Fire when *none* of the patterns occur (a phrase the prompt must carry)."""

    @field_validator("regexes")
    @classmethod
    def _regexes_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                compile_regex(pattern)
            except re.error as exc:
                msg = f"invalid regex {pattern!r}: {exc}"
                raise ValueError(msg) from exc
        return value

    @model_validator(mode="after")
    def _has_patterns(self) -> Self:
        if not self.patterns and not self.regexes:
            msg = f"rule {self.id!r} has no patterns and no regexes"
            raise ValueError(msg)
        for pattern in self.patterns:
            compile_phrase(pattern, inflect=self.inflect, substring=self.substring)
        return self

    def matchers(self) -> tuple[Matcher, ...]:
        """The compiled patterns of this rule (cached per pattern)."""
        phrases = (
            compile_phrase(p, inflect=self.inflect, substring=self.substring) for p in self.patterns
        )
        return (*phrases, *(compile_regex(r) for r in self.regexes))


class RulePack(BaseModel):
    """A named set of rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                msg = f"duplicate rule id {rule.id!r}"
                raise ValueError(msg)
            seen.add(rule.id)
        return self

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<string>") -> RulePack:
        """Parse and validate a pack. Raises :class:`RulePackError` naming ``source``."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RulePackError(f"not valid YAML: {exc}", source=source) from exc
        if not isinstance(data, dict):
            raise RulePackError("a rule pack must be a mapping", source=source)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'pack'}: {err['msg']}"
                for err in exc.errors()
            )
            raise RulePackError(problems, source=source) from exc


class BrandRules(BaseModel):
    """A campaign's ``rules:`` block: its own banned words, required phrases and competitors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    banned_words: tuple[str, ...] = ()
    required_phrases: tuple[str, ...] = ()
    competitors: tuple[str, ...] = ()

    @field_validator("banned_words", "required_phrases", "competitors")
    @classmethod
    def _entries_have_letters(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            compile_phrase(entry)  # raises ValueError for an entry with no letters or digits
        return value

    def to_pack(self, *, name: str = "brand") -> RulePack:
        """The brand rules as a pack: every entry is an error."""
        kinds = (
            ("banned", "uses the banned word {!r}", self.banned_words, False),
            ("competitor", "names the competitor {!r}", self.competitors, False),
            ("required", "lacks the required phrase {!r}", self.required_phrases, True),
        )
        rules = [
            Rule(
                id=f"brand.{kind}.{_slug(entry)}",
                severity=Severity.ERROR,
                category="brand",
                message=message.format(entry),
                patterns=(entry,),
                required=required,
            )
            for kind, message, entries, required in kinds
            for entry in entries
        ]
        # "Diet" and "diet" give the same id: keep the first.
        unique = {rule.id: rule for rule in reversed(rules)}
        ordered = tuple(rule for rule in rules if unique.get(rule.id) is rule)
        return RulePack(name=name, description="Brand rules from the campaign file", rules=ordered)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "x"


def _load_builtin(name: str) -> RulePack:
    source = f"reelforge/compliance/packs/{name}.yaml"
    try:
        text = (
            resources.files("reelforge.compliance.packs")
            .joinpath(f"{name}.yaml")
            .read_text("utf-8")
        )
    except OSError as exc:
        raise RulePackError(f"cannot read: {exc}", source=source) from exc
    return RulePack.from_yaml(text, source=source)


@cache
def load_packs() -> tuple[RulePack, ...]:
    """The built-in packs (content policy, advertising claims), parsed once."""
    return tuple(_load_builtin(name) for name in BUILTIN_PACKS)
