"""From parsed data to validated jobs: shapes, defaults, keys, capabilities.

Every problem is collected (a :class:`~reelforge.batch.errors.BatchIssue` each) and raised
together as one :class:`~reelforge.batch.errors.BatchFileError`; a batch with any problem
yields no jobs at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reelforge.batch.errors import BatchFileError, BatchIssue
from reelforge.batch.ids import SAFE_NAME_PATTERN, KeyRegistry, name_problem
from reelforge.batch.loaders import SKIPPED, Parsed
from reelforge.batch.shapes import DOCUMENT_FIELDS, DefaultsShape, JobShape, Loc, kind, shape_errors
from reelforge.batch.specs import describe, spec_problems
from reelforge.core.capabilities import capabilities_for
from reelforge.core.models import JobSpec

__all__ = ["JOB_FIELDS", "Built", "assemble", "assemble_specs", "default_key"]

JOB_FIELDS = (
    "prompt",
    "key",
    "provider",
    "model",
    "seconds",
    "size",
    "aspect_ratio",
    "resolution",
    "audio",
    "image",
    "end_image",
    "negative_prompt",
    "seed",
    "input_reference",
    "params",
    "labels",
)
"""The fields of one job, in the order messages list them."""
DEFAULTS_FIELDS = JOB_FIELDS[2:]

_SPEC_DEFAULTS = JobSpec(prompt="-")
"""A spec with every default, to read them from."""


@dataclass(frozen=True, slots=True)
class Built:
    """One valid job, ready to become a :class:`~reelforge.batch.model.BatchJob`."""

    key: str
    spec: JobSpec
    index: int
    location: str


def default_key(index: int) -> str:
    """The key of a job that has none: its 1-based position, four digits (``"0001"``)."""
    return f"{index + 1:04d}"


def assemble(parsed: Parsed, *, default_name: str, base_dir: Path) -> tuple[str, list[Built]]:
    """Validate a parsed batch; return its name and jobs, or raise ``BatchFileError``."""
    issues = list(parsed.issues)
    name, jobs = default_name, []
    defaults: DefaultsShape | None = DefaultsShape()
    top = _top_level(parsed, issues)
    if top is not None:
        name = _batch_name(parsed, top.get("batch"), default_name, issues)
        defaults = _defaults(parsed, top.get("defaults"), issues)
        jobs = _jobs(parsed, top, issues)
    builder = _Builder(parsed, base_dir, defaults, issues)
    for index, item in enumerate(jobs):
        builder.add(index, item)
    if issues:
        raise BatchFileError(_dedupe(issues))
    return name, builder.built


def assemble_specs(
    name: str, items: Iterable[JobSpec | str] | Mapping[str, JobSpec | str]
) -> list[Built]:
    """Validate jobs given as specs or prompts (keys from a mapping, else positions)."""
    parsed = Parsed(format="specs", source="<specs>", path=None)
    issues: list[BatchIssue] = []
    if (problem := name_problem(name, batch=True)) is not None:
        issues.append(parsed.issue(("batch",), problem, value=name, allowed=(SAFE_NAME_PATTERN,)))
    pairs = list(items.items()) if isinstance(items, Mapping) else [(None, i) for i in items]
    if not pairs:
        issues.append(parsed.issue(("jobs",), "the batch has no jobs", field="jobs"))
    builder = _Builder(parsed, Path.cwd(), DefaultsShape(), issues)
    for index, (key, item) in enumerate(pairs):
        loc: Loc = ("jobs", index)
        given = JobSpec(prompt=item) if isinstance(item, str) else item
        if not isinstance(given, JobSpec):
            message = f"must be a JobSpec or a prompt string, got {kind(given)}"
            issues.append(parsed.issue(loc, message, field="jobs"))
            continue
        if key is not None and not isinstance(key, str):
            message = f"must be a string, got {kind(key)}"
            issues.append(parsed.issue((*loc, "key"), message, field="key", value=key))
            continue
        labels_ok = _labels_ok(parsed, loc, given, issues)
        key_ok = builder.check_key(index, key)
        spec = builder.check_spec(index, given, {}, None)
        if key_ok is not None and spec is not None and labels_ok:
            builder.built.append(Built(key_ok, spec, index, parsed.location(index)))
    if issues:
        raise BatchFileError(_dedupe(issues))
    return builder.built


def _labels_ok(parsed: Parsed, loc: Loc, spec: JobSpec, issues: list[BatchIssue]) -> bool:
    """Whether a given spec's labels are text to text (a file's are checked by its shape)."""
    ok = True
    for name, value in spec.labels.items():
        if not isinstance(name, str) or not name:
            message = f"label names must be non-empty strings, got {kind(name)}"
        elif not isinstance(value, str):
            message = f"must be text, got {kind(value)}"
        else:
            continue
        ok = False
        where = (*loc, "labels", name) if isinstance(name, str | int) else (*loc, "labels")
        issues.append(parsed.issue(where, message, value=value))
    return ok


def _top_level(parsed: Parsed, issues: list[BatchIssue]) -> dict[object, object] | None:
    data = parsed.data
    if data is None:
        if not parsed.issues:
            message = "the file is empty; expected a mapping with a 'jobs' list"
            issues.append(parsed.issue((), message, field="jobs"))
        return None
    if not isinstance(data, dict):
        message = f"must be a mapping with a 'jobs' list, got {kind(data)}"
        issues.append(parsed.issue((), message, field="jobs"))
        return None
    for key in data:
        if key not in DOCUMENT_FIELDS:
            message = f"unknown field {key!r}; known fields: {', '.join(DOCUMENT_FIELDS)}"
            where: Loc = (key,) if isinstance(key, str | int) else ()
            issues.append(
                parsed.issue(where, message, field=str(key), value=key, allowed=DOCUMENT_FIELDS)
            )
    return data


def _batch_name(parsed: Parsed, raw: object, default: str, issues: list[BatchIssue]) -> str:
    if raw is None:
        return default
    if not isinstance(raw, str):
        issues.append(parsed.issue(("batch",), f"must be a string, got {kind(raw)}", value=raw))
        return default
    name = raw.strip()
    if (problem := name_problem(name, batch=True)) is not None:
        issues.append(parsed.issue(("batch",), problem, value=raw, allowed=(SAFE_NAME_PATTERN,)))
        return default
    return name


def _defaults(parsed: Parsed, raw: object, issues: list[BatchIssue]) -> DefaultsShape | None:
    if raw is None:
        return DefaultsShape()
    try:
        return DefaultsShape.model_validate(raw)
    except ValidationError as exc:
        for error in shape_errors(exc, DEFAULTS_FIELDS):
            issues.append(
                parsed.issue(
                    ("defaults", *error.loc),
                    error.message,
                    field=error.field or "defaults",
                    value=error.value,
                    allowed=error.allowed,
                )
            )
        return None


def _jobs(parsed: Parsed, top: dict[object, object], issues: list[BatchIssue]) -> list[object]:
    if "jobs" not in top:
        issues.append(parsed.issue((), "'jobs' is required: a list of jobs", field="jobs"))
        return []
    jobs = top["jobs"]
    if not isinstance(jobs, list):
        message = f"must be a list of jobs, got {kind(jobs)}"
        issues.append(parsed.issue(("jobs",), message, field="jobs", value=jobs))
        return []
    if not jobs:
        issues.append(parsed.issue(("jobs",), "the batch has no jobs", field="jobs"))
    return jobs


class _Builder:
    """Checks jobs one by one, collecting issues and the valid jobs."""

    def __init__(
        self,
        parsed: Parsed,
        base_dir: Path,
        defaults: DefaultsShape | None,
        issues: list[BatchIssue],
    ) -> None:
        self.parsed = parsed
        self.base_dir = base_dir
        self.defaults = defaults
        self.issues = issues
        self.keys = KeyRegistry()
        self.built: list[Built] = []

    def add(self, index: int, item: object) -> None:
        """Check one raw job (a mapping from the file)."""
        loc: Loc = ("jobs", index)
        if item is SKIPPED:
            return
        if not isinstance(item, dict):
            message = f"must be a mapping with at least a 'prompt', got {kind(item)}"
            self.issues.append(self.parsed.issue(loc, message, field="jobs", value=item))
            return
        shape, bad = self._shape(index, item)
        if shape is None:
            return
        key = self.check_key(index, shape.key) if "key" not in bad else None
        if self.defaults is None or "model" in bad:  # checking the rest would only add noise
            return
        spec, origins, reference = self._merge(index, shape, self.defaults)
        valid = self.check_spec(index, spec, origins, reference)
        if key is not None and valid is not None and not bad:
            self.built.append(Built(key, valid, index, self.parsed.location(index)))

    def _shape(self, index: int, item: dict[object, object]) -> tuple[JobShape | None, set[object]]:
        """The job's shape, and the fields that were wrong (reported, then left out).

        Leaving the wrong fields out lets the rest of the job be checked too, so one pass
        reports an unknown field, an unsafe key and an unsupported size together.
        """
        try:
            return JobShape.model_validate(item), set()
        except ValidationError as exc:
            errors = list(shape_errors(exc, JOB_FIELDS))
        for error in errors:
            self.issues.append(
                self.parsed.issue(
                    ("jobs", index, *error.loc),
                    error.message,
                    field=error.field or "jobs",
                    value=error.value,
                    allowed=error.allowed,
                )
            )
        bad: set[object] = {error.loc[0] for error in errors if error.loc}
        rest = {name: value for name, value in item.items() if name not in bad}
        rest.setdefault("prompt", "-")  # a missing prompt is reported already
        try:
            return JobShape.model_validate(rest), bad
        except ValidationError:
            return None, bad

    def check_key(self, index: int, key: str | None) -> str | None:
        """The job's key (given, or its position); ``None`` if it is unsafe or taken."""
        loc: Loc = ("jobs", index, "key") if key is not None else ("jobs", index)
        value = key if key is not None else default_key(index)
        problem = name_problem(value)
        if problem is None:
            problem = self.keys.add(value, self.parsed.location(index))
            if problem is not None and key is None:
                problem += "; it is this job's default key (its position): give one of them a key"
            allowed = None
        else:
            allowed = (SAFE_NAME_PATTERN,)
        if problem is None:
            return value
        self.issues.append(
            self.parsed.issue(loc, problem, field="key", value=value, allowed=allowed)
        )
        return None

    def check_spec(
        self, index: int, spec: JobSpec, origins: dict[str, Loc], reference: str | None
    ) -> JobSpec | None:
        """``spec`` validated against its model; every problem reported where it was set."""
        valid, problems = spec_problems(spec)
        for exc in problems:
            loc = origins.get(exc.field, ("jobs", index, exc.field))
            allowed = tuple(str(a) for a in exc.allowed) if exc.allowed is not None else None
            self.issues.append(
                self.parsed.issue(
                    loc,
                    describe(exc, spec, reference),
                    field=exc.field,
                    value=exc.value,
                    allowed=allowed,
                )
            )
        return valid

    def _merge(
        self, index: int, shape: JobShape, defaults: DefaultsShape
    ) -> tuple[JobSpec, dict[str, Loc], str | None]:
        """The job's spec with defaults filled in, and which fields came from ``defaults``."""
        origins: dict[str, Loc] = {}

        def pick(name: str) -> Any:
            own, default = getattr(shape, name), getattr(defaults, name)
            if own is None and default is not None:
                origins[name] = ("defaults", name)
                return default
            return own

        model: str = pick("model") or _SPEC_DEFAULTS.model
        provider: str = pick("provider") or _SPEC_DEFAULTS.provider
        caps = capabilities_for(model, provider)
        reference: str | None = pick("input_reference")
        seconds: int | None = pick("seconds")
        size: str | None = pick("size")
        if size is not None and caps.neutral:
            where = origins.get("size", ("jobs", index, "size"))
            self.issues.append(
                self.parsed.issue(
                    where,
                    f"size is the OpenAI protocol's field; {model} takes aspect_ratio "
                    f"({', '.join(caps.aspect_ratios) or 'fixed'}) and resolution "
                    f"({', '.join(caps.resolutions) or caps.default_resolution or 'fixed'})",
                    field="size",
                    value=size,
                    allowed=("aspect_ratio", "resolution"),
                )
            )
        params = {**(defaults.params or {}), **(shape.params or {})}
        spec = JobSpec(
            prompt=shape.prompt,
            provider=provider,
            model=model,
            seconds=caps.default_seconds if seconds is None else seconds,
            size=size or caps.default_size or _SPEC_DEFAULTS.size,
            input_reference=_resolve(reference, self.base_dir) if reference else None,
            labels={**(defaults.labels or {}), **(shape.labels or {})},
            aspect_ratio=pick("aspect_ratio"),
            resolution=pick("resolution"),
            audio=pick("audio"),
            image=_locate(pick("image"), self.base_dir),
            end_image=_locate(pick("end_image"), self.base_dir),
            negative_prompt=pick("negative_prompt"),
            seed=pick("seed"),
            params=params,
        )
        return spec, origins, reference


def _locate(image: str | None, base_dir: Path) -> str | None:
    """An image URL as it is; a file path made absolute like ``input_reference``."""
    if image is None or image.startswith(("http://", "https://", "data:")):
        return image
    return str(_resolve(image, base_dir))


def _resolve(reference: str, base_dir: Path) -> Path:
    """``reference`` relative to the batch file's folder (``~`` expanded), made absolute."""
    path = base_dir / reference
    try:
        return (base_dir / Path(reference).expanduser()).resolve()
    except (RuntimeError, OSError, ValueError):  # an unknown ~user, a NUL byte: reported later
        return path


def _dedupe(issues: list[BatchIssue]) -> list[BatchIssue]:
    """In file order, without repeats (a bad default is reported once, not once per job)."""
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for issue in issues:
        mark = (issue.location, issue.pointer, issue.message)
        if mark not in seen:
            seen.add(mark)
            unique.append(issue)
    return sorted(unique, key=lambda issue: issue.line or issue.row or 0)
