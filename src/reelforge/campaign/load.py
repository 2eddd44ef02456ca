"""Reading a campaign file: size, encoding, YAML, shape, then every cross-field check.

Every problem is collected and raised together as one :class:`CampaignError`, each located by
the file's line where the YAML gives one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jinja2 import Template
from pydantic import ValidationError

from reelforge.batch.shapes import DefaultsShape, Loc, shape_errors
from reelforge.batch.specs import describe, spec_problems
from reelforge.batch.yamlio import YamlDocument, YamlSyntaxError, load_yaml
from reelforge.campaign.errors import CampaignError, CampaignIssue
from reelforge.campaign.expand import Combination
from reelforge.campaign.shapes import KNOWN_FIELDS, CampaignShape
from reelforge.campaign.template import TemplateProblem, compile_template, render, undeclared
from reelforge.core.models import JobSpec

__all__ = [
    "MAX_BYTES",
    "RESERVED_NAMES",
    "Checked",
    "Locator",
    "check_document",
    "context",
    "merge_spec",
    "read_campaign",
]

MAX_BYTES = 1024 * 1024
"""The largest campaign file read: 1 MiB."""

RESERVED_NAMES = (
    "big_idea",
    "brand",
    "campaign",
    "combination_id",
    "dimensions",
    "product_category",
)
"""Template variables and labels set by the campaign itself; no dimension may use them."""

_TEMPLATE_NAMES = ("big_idea", "brand", "campaign", "product_category")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, kw_only=True, slots=True)
class Locator:
    """Turns a path inside the document into a :class:`CampaignIssue` with its line."""

    source: str
    path: Path | None
    lines: dict[Loc, int]

    def line(self, loc: Loc) -> int | None:
        """The line of ``loc`` or of its nearest ancestor that has one."""
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None

    def issue(
        self,
        loc: Loc,
        message: str,
        *,
        value: object = None,
        allowed: tuple[str, ...] | None = None,
        line: int | None = None,
    ) -> CampaignIssue:
        return CampaignIssue(
            message=message,
            field=".".join(str(part) for part in loc) or "file",
            source=self.source,
            path=self.path,
            line=line if line is not None else self.line(loc),
            value=value,
            allowed=allowed,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Checked:
    """A campaign file that passed every check."""

    shape: CampaignShape
    template: Template
    locator: Locator
    base_dir: Path


def merge_spec(base: JobSpec, shape: DefaultsShape, base_dir: Path) -> JobSpec:
    """``base`` with every field ``shape`` sets; labels are merged, the later winning."""
    changes: dict[str, Any] = {
        name: getattr(shape, name)
        for name in (
            "provider",
            "model",
            "seconds",
            "size",
            "aspect_ratio",
            "resolution",
            "audio",
            "negative_prompt",
            "seed",
        )
        if getattr(shape, name) is not None
    }
    if shape.input_reference is not None:
        reference = Path(shape.input_reference)
        changes["input_reference"] = reference if reference.is_absolute() else base_dir / reference
    for name in ("image", "end_image"):
        image = getattr(shape, name)
        if image is not None:
            url = image.startswith(("http://", "https://", "data:"))
            changes[name] = image if url or Path(image).is_absolute() else str(base_dir / image)
    if shape.params:
        changes["params"] = {**base.params, **shape.params}
    if shape.labels:
        changes["labels"] = {**base.labels, **shape.labels}
    return replace(base, **changes)


def read_campaign(path: Path) -> Checked:
    """Read and check the campaign file at ``path``. Raises :class:`CampaignError`."""
    source = str(path)
    locator = Locator(source=source, path=path, lines={})
    text = _read_text(path, locator)
    try:
        document = load_yaml(text)
    except YamlSyntaxError as exc:
        issue = replace(locator.issue((), exc.message, line=exc.line), field="syntax")
        raise CampaignError([issue]) from exc
    return check_document(document, source=source, path=path, base_dir=path.parent.resolve())


def check_document(
    document: YamlDocument, *, source: str, path: Path | None, base_dir: Path
) -> Checked:
    """Check a parsed campaign document. Raises :class:`CampaignError`."""
    locator = Locator(source=source, path=path, lines=document.lines)
    issues = [
        locator.issue(loc, f"duplicate key; first set on line {first}", line=line)
        for loc, line, first in document.duplicates
    ]
    if not isinstance(document.data, dict):
        issues.append(locator.issue((), "must be a mapping of campaign fields"))
        raise CampaignError(issues)
    try:
        shape = CampaignShape.model_validate(document.data)
    except ValidationError as exc:
        issues.extend(_shape_issues(exc, locator))
        raise CampaignError(issues) from exc
    issues.extend(_check_dimensions(shape, locator))
    issues.extend(_check_partials(shape, locator))
    issues.extend(_check_specs(shape, locator, base_dir))
    if shape.limit is not None and shape.limit < 1:
        issues.append(locator.issue(("limit",), "must be at least 1", value=shape.limit))
    template = None if issues else _check_template(shape, locator, issues)
    if issues or template is None:
        raise CampaignError(issues)
    return Checked(shape=shape, template=template, locator=locator, base_dir=base_dir)


def _read_text(path: Path, locator: Locator) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError as exc:
        raise CampaignError([locator.issue((), "no such file")]) from exc
    except OSError as exc:
        raise CampaignError([locator.issue((), f"cannot read: {exc.strerror or exc}")]) from exc
    if len(data) > MAX_BYTES:
        message = f"is larger than the cap of {MAX_BYTES:,} bytes"
        raise CampaignError([replace(locator.issue((), message), field="file_size")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        issue = locator.issue((), "not UTF-8; save the file as UTF-8", line=line)
        raise CampaignError([replace(issue, field="encoding", allowed=("UTF-8",))]) from exc


def _shape_issues(exc: ValidationError, locator: Locator) -> list[CampaignIssue]:
    issues = []
    for error in shape_errors(exc, KNOWN_FIELDS["campaign"]):
        message = error.message
        allowed = error.allowed
        if message.startswith("unknown field"):
            allowed = _known_at(error.loc[:-1])
            message = f"unknown field {error.loc[-1]!r}; known fields: {', '.join(allowed)}"
        issues.append(locator.issue(error.loc, message, value=error.value, allowed=allowed))
    return issues


def _known_at(parent: Loc) -> tuple[str, ...]:
    if parent in {("defaults",), ("rules",)}:
        return KNOWN_FIELDS[str(parent[0])]
    if len(parent) == 2 and parent[0] == "overrides":
        return KNOWN_FIELDS["override"]
    if len(parent) == 3 and parent[0] == "overrides" and parent[2] == "set":
        return KNOWN_FIELDS["defaults"]
    return KNOWN_FIELDS["campaign"]


def _check_dimensions(shape: CampaignShape, locator: Locator) -> list[CampaignIssue]:
    issues = []
    if not shape.dimensions:
        issues.append(locator.issue(("dimensions",), "must name at least one dimension"))
    for name, values in shape.dimensions.items():
        loc: Loc = ("dimensions", name)
        if not _IDENTIFIER.fullmatch(name):
            message = f"dimension name {name!r} must be a template variable name ([A-Za-z_]\\w*)"
            issues.append(locator.issue(loc, message, value=name))
        elif name in RESERVED_NAMES:
            message = f"dimension name {name!r} is reserved; reserved: {', '.join(RESERVED_NAMES)}"
            issues.append(locator.issue(loc, message, value=name, allowed=RESERVED_NAMES))
        if not values:
            issues.append(locator.issue(loc, "has no values; list at least one", value=values))
        seen: set[str] = set()
        for index, value in enumerate(values):
            if value in seen:
                message = f"value {value!r} is listed twice"
                issues.append(locator.issue((*loc, index), message, value=value))
            seen.add(value)
    return issues


def _check_partials(shape: CampaignShape, locator: Locator) -> list[CampaignIssue]:
    """``when:`` of each override and each ``exclude:`` entry name real dimensions and values."""
    partials: list[tuple[Loc, dict[str, str]]] = [
        (("overrides", i, "when"), o.when) for i, o in enumerate(shape.overrides)
    ]
    partials += [(("exclude", i), entry) for i, entry in enumerate(shape.exclude)]
    known = tuple(shape.dimensions)
    issues = []
    for loc, partial in partials:
        if not partial:
            issues.append(locator.issue(loc, "must name at least one dimension: value"))
        for name, value in partial.items():
            if name not in shape.dimensions:
                message = f"unknown dimension {name!r}; known dimensions: {', '.join(known)}"
                issues.append(locator.issue((*loc, name), message, value=name, allowed=known))
            elif value not in shape.dimensions[name]:
                values = tuple(shape.dimensions[name])
                message = f"dimension {name!r} has no value {value!r}; its values: " + ", ".join(
                    values
                )
                issues.append(locator.issue((*loc, name), message, value=value, allowed=values))
    return issues


def _check_specs(shape: CampaignShape, locator: Locator, base_dir: Path) -> list[CampaignIssue]:
    """``defaults`` and each override's ``set`` against the model's capabilities."""
    issues = []
    base = merge_spec(JobSpec(prompt="x"), shape.defaults, base_dir)
    candidates: list[tuple[Loc, JobSpec, DefaultsShape]] = [(("defaults",), base, shape.defaults)]
    candidates += [
        (("overrides", i, "set"), merge_spec(base, o.set_, base_dir), o.set_)
        for i, o in enumerate(shape.overrides)
    ]
    reported: set[str] = set()
    for loc, spec, part in candidates:
        _, problems = spec_problems(spec)
        for problem in problems:
            field = problem.field
            if getattr(part, field, None) is None:
                if field in reported:
                    continue  # inherited from defaults, reported there
                where: Loc = ("defaults", field) if field in DefaultsShape.model_fields else loc
            else:
                where = (*loc, field)
            reported.add(field)
            allowed = tuple(str(a) for a in problem.allowed) if problem.allowed else None
            message = describe(problem, spec, getattr(part, "input_reference", None))
            issues.append(locator.issue(where, message, value=problem.value, allowed=allowed))
    return issues


def _check_template(
    shape: CampaignShape, locator: Locator, issues: list[CampaignIssue]
) -> Template | None:
    """Compile the template, check the names it reads, and render the first combination."""
    loc: Loc = ("template",)
    key_line = locator.line(loc)
    try:
        template = compile_template(shape.template)
    except TemplateProblem as exc:
        issues.append(locator.issue(loc, exc.message, value=shape.template))
        return None
    known = (*_TEMPLATE_NAMES, *shape.dimensions)
    known_sorted = tuple(sorted(known))
    unknown = sorted(undeclared(shape.template) - set(known))
    for name in unknown:
        message = f"unknown variable {name!r}; known variables: {', '.join(known_sorted)}"
        issues.append(locator.issue(loc, message, value=name, allowed=known_sorted, line=key_line))
    if unknown:
        return None
    first: Combination = tuple((name, values[0]) for name, values in shape.dimensions.items())
    try:
        render(template, context(shape, first))
    except TemplateProblem as exc:
        issues.append(locator.issue(loc, exc.message, value=shape.template))
        return None
    return template


def context(shape: CampaignShape, combination: Combination) -> dict[str, str]:
    """The template's variables for one combination."""
    return {
        "campaign": shape.campaign,
        "brand": shape.brand,
        "product_category": shape.product_category,
        "big_idea": shape.big_idea,
        **dict(combination),
    }
