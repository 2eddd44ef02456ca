"""The properties a reelforge database needs, and how job states and errors are named there.

Every property has a default name (``"Cost"``), the type :func:`init_database` creates it with,
and the types it accepts when the user already has a property of that name (``Model`` may be a
select or a text). Names can be changed through
:attr:`~reelforge.sinks.notion.NotionSettings.property_names`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from reelforge.campaign.labels import campaign_labels
from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState
from reelforge.store.rows import ReviewVerdict

__all__ = [
    "CAMPAIGN_LABELS",
    "ERROR_TYPES",
    "REQUIRED",
    "REVIEW_NAMES",
    "STATUS_NAMES",
    "PropertySpec",
    "dimension_labels",
    "dimension_property",
    "dimension_spec",
    "error_type",
    "review_name",
    "status_name",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class PropertySpec:
    """One property: its default name, the type it is created with, the types it may have."""

    name: str
    type: str
    accepts: frozenset[str]
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """The type's configuration when created (``{"format": "dollar"}``, select options)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))

    @property
    def options(self) -> tuple[str, ...]:
        """The select options this property should offer (empty for other types)."""
        return tuple(str(o["name"]) for o in self.config.get("options", ()))

    def create_body(self) -> dict[str, Any]:
        """The ``properties`` entry that adds this property to a data source."""
        return {self.type: _plain(self.config)}


STATUS_NAMES: Mapping[JobState, str] = MappingProxyType(
    {
        JobState.PENDING: "Pending",
        JobState.REJECTED: "Rejected",
        JobState.WAITING: "Queued",
        JobState.SUBMITTING: "Queued",
        JobState.QUEUED: "Queued",
        JobState.IN_PROGRESS: "In Progress",
        JobState.COMPLETED: "In Progress",
        JobState.DOWNLOADING: "In Progress",
        JobState.DONE: "Completed",
        JobState.FAILED: "Failed",
        JobState.NEEDS_REVIEW: "Needs Review",
        JobState.CANCELED: "Canceled",
    }
)
"""The Notion status of each job state (``completed`` still needs its download)."""

_STATUS_OPTIONS = (
    ("Pending", "gray"),
    ("Queued", "blue"),
    ("In Progress", "yellow"),
    ("Completed", "green"),
    ("Failed", "red"),
    ("Rejected", "orange"),
    ("Needs Review", "purple"),
    ("Canceled", "brown"),
)

ERROR_TYPES: Mapping[ErrorCategory, str] = MappingProxyType(
    {
        ErrorCategory.COMPLIANCE: "compliance_failed",
        ErrorCategory.CONTENT_POLICY: "compliance_failed",
        ErrorCategory.GENERATION_FAILED: "generation_failed",
        ErrorCategory.TIMEOUT: "timeout",
        ErrorCategory.EXPIRED: "expired",
    }
)
"""The Notion error type of each error category; any other category is ``api_error``."""

_ERROR_OPTIONS = (
    ("compliance_failed", "orange"),
    ("generation_failed", "red"),
    ("api_error", "pink"),
    ("timeout", "yellow"),
    ("expired", "gray"),
)

REVIEW_NAMES: Mapping[ReviewVerdict, str] = MappingProxyType(
    {ReviewVerdict.APPROVED: "Approved", ReviewVerdict.REJECTED: "Rejected"}
)
"""The Notion ``Review`` option of each verdict given on the dashboard."""

_REVIEW_OPTIONS = (("Approved", "green"), ("Rejected", "red"))

CAMPAIGN_LABELS: Mapping[str, str] = MappingProxyType(
    {"brand": "Brand", "big_idea": "Big Idea", "combination_id": "Combination ID"}
)
"""Campaign labels with a property of their own."""

_OTHER_CAMPAIGN_LABELS = frozenset({"campaign", "dimensions", "product_category"})
"""Labels the campaign layer sets that are not dimensions (and have no required property)."""

_TEXT = frozenset({"rich_text"})
_TEXT_OR_SELECT = frozenset({"rich_text", "select"})


def _select(options: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {"options": [{"name": name, "color": color} for name, color in options]}


REQUIRED: tuple[PropertySpec, ...] = (
    PropertySpec(name="Name", type="title", accepts=frozenset({"title"})),
    PropertySpec(name="Job ID", type="rich_text", accepts=_TEXT),
    PropertySpec(name="Batch", type="rich_text", accepts=_TEXT_OR_SELECT),
    PropertySpec(
        name="Status",
        type="select",
        accepts=frozenset({"select", "status"}),
        config=_select(_STATUS_OPTIONS),
    ),
    PropertySpec(
        name="Progress",
        type="number",
        accepts=frozenset({"number"}),
        config={"format": "percent"},
    ),
    PropertySpec(name="Video ID", type="rich_text", accepts=_TEXT),
    PropertySpec(name="Provider", type="select", accepts=_TEXT_OR_SELECT, config={"options": []}),
    PropertySpec(name="Model", type="select", accepts=_TEXT_OR_SELECT, config={"options": []}),
    PropertySpec(
        name="Seconds", type="number", accepts=frozenset({"number"}), config={"format": "number"}
    ),
    PropertySpec(name="Size", type="rich_text", accepts=_TEXT_OR_SELECT),
    PropertySpec(
        name="Cost", type="number", accepts=frozenset({"number"}), config={"format": "dollar"}
    ),
    PropertySpec(name="Prompt", type="rich_text", accepts=_TEXT),
    PropertySpec(name="Video", type="url", accepts=frozenset({"url"})),
    PropertySpec(name="Thumbnail", type="url", accepts=frozenset({"url"})),
    PropertySpec(
        name="Error Type",
        type="select",
        accepts=frozenset({"select", "status"}),
        config=_select(_ERROR_OPTIONS),
    ),
    PropertySpec(name="Error", type="rich_text", accepts=_TEXT),
    PropertySpec(name="Updated", type="date", accepts=frozenset({"date"})),
    PropertySpec(name="Brand", type="rich_text", accepts=_TEXT_OR_SELECT),
    PropertySpec(name="Big Idea", type="rich_text", accepts=_TEXT_OR_SELECT),
    PropertySpec(name="Combination ID", type="rich_text", accepts=_TEXT),
    PropertySpec(
        name="Review",
        type="select",
        accepts=frozenset({"select", "status", "rich_text"}),
        config=_select(_REVIEW_OPTIONS),
    ),
    PropertySpec(name="Review Note", type="rich_text", accepts=_TEXT),
)
"""Every property the sink writes, in column order."""

_REQUIRED_NAMES = frozenset(spec.name.casefold() for spec in REQUIRED)


def status_name(state: JobState) -> str:
    """The Notion status of a job state."""
    return STATUS_NAMES[state]


def review_name(verdict: ReviewVerdict | None) -> str | None:
    """The Notion ``Review`` option of a verdict (None: not reviewed)."""
    return None if verdict is None else REVIEW_NAMES[verdict]


def error_type(category: ErrorCategory | None) -> str | None:
    """The Notion error type of an error category (None for no error)."""
    if category is None:
        return None
    return ERROR_TYPES.get(category, "api_error")


def dimension_property(label: str) -> str:
    """The default property name of a campaign dimension: ``aesthetic`` → ``Aesthetic``,
    ``target_age`` → ``Target Age``. A name that would clash with a required property gets
    `` (dimension)`` appended (a dimension called ``size`` → ``Size (dimension)``)."""
    words = label.replace("_", " ").split()
    title = " ".join(word[:1].upper() + word[1:] for word in words) or label
    if title.casefold() in _REQUIRED_NAMES:
        return f"{title} (dimension)"
    return title


def dimension_spec(label: str) -> PropertySpec:
    """The property a campaign dimension gets (text, or a select the user made)."""
    return PropertySpec(
        name=dimension_property(label),
        type="rich_text",
        accepts=frozenset({"rich_text", "select", "multi_select"}),
    )


def dimension_labels(labels: Mapping[str, str]) -> list[str]:
    """The job's campaign dimensions, in the campaign's order (its ``dimensions`` label). A job
    from a plain batch file (or an older campaign job) has its own labels here instead."""
    combination = campaign_labels(labels)
    if combination is not None and combination.dimensions:
        return list(combination.dimensions)
    return [
        name
        for name in labels
        if name not in CAMPAIGN_LABELS and name not in _OTHER_CAMPAIGN_LABELS
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
