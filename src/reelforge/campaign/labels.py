"""Reading a campaign combination back from a job's labels.

A planned combination's job carries ``campaign``, ``brand``, ``product_category``,
``big_idea``, ``combination_id``, ``dimensions`` (the dimension names, comma-separated, in the
campaign's order) and one label per dimension. :func:`campaign_labels` turns those back into
a :class:`CampaignLabels` for ``job.json``, reports and sinks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["CampaignLabels", "campaign_labels"]


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignLabels:
    """The campaign side of a job: which combination of which campaign it is."""

    campaign: str
    brand: str
    product_category: str
    big_idea: str
    combination_id: str
    dimensions: Mapping[str, str] = field(hash=False)

    def to_dict(self) -> dict[str, object]:
        """The JSON form (``job.json``'s ``campaign`` section)."""
        return {
            "campaign": self.campaign,
            "brand": self.brand,
            "product_category": self.product_category,
            "big_idea": self.big_idea,
            "combination_id": self.combination_id,
            "dimensions": dict(self.dimensions),
        }


def campaign_labels(labels: Mapping[str, str]) -> CampaignLabels | None:
    """The combination a job's labels describe, or None for a job that is not from a campaign."""
    if "combination_id" not in labels:
        return None
    names = [name for name in labels.get("dimensions", "").split(",") if name]
    return CampaignLabels(
        campaign=labels.get("campaign", ""),
        brand=labels.get("brand", ""),
        product_category=labels.get("product_category", ""),
        big_idea=labels.get("big_idea", ""),
        combination_id=labels["combination_id"],
        dimensions=MappingProxyType({name: labels.get(name, "") for name in names}),
    )
