"""The shape of a campaign document, as strict pydantic models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reelforge.batch.shapes import DefaultsShape

__all__ = ["CAMPAIGN_FIELDS", "CampaignShape", "OverrideShape", "RulesShape"]

_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_Text = Annotated[str, StringConstraints(min_length=1)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RulesShape(_Shape):
    """``rules:``: brand rules, carried to compliance as they are."""

    banned_words: list[_Text] = Field(default_factory=list)
    required_phrases: list[_Text] = Field(default_factory=list)
    competitors: list[_Text] = Field(default_factory=list)


class OverrideShape(_Shape):
    """One entry of ``overrides:``: when every named dimension has its value, set these fields."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    when: dict[_Name, _Name]
    set_: DefaultsShape = Field(alias="set")


class CampaignShape(_Shape):
    """A whole campaign file."""

    campaign: _Name
    brand: _Name
    product_category: _Name
    big_idea: _Name
    defaults: DefaultsShape = Field(default_factory=DefaultsShape)
    dimensions: dict[_Name, list[_Name]]
    overrides: list[OverrideShape] = Field(default_factory=list)
    exclude: list[dict[_Name, _Name]] = Field(default_factory=list)
    limit: int | None = None
    seed: int = 0
    template: _Text
    rules: RulesShape = Field(default_factory=RulesShape)


CAMPAIGN_FIELDS = tuple(CampaignShape.model_fields)
"""The top-level fields of a campaign file, in order."""

KNOWN_FIELDS: dict[str, tuple[str, ...]] = {
    "campaign": CAMPAIGN_FIELDS,
    "defaults": tuple(DefaultsShape.model_fields),
    "rules": tuple(RulesShape.model_fields),
    "override": ("when", "set"),
}
