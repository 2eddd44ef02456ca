"""A factory for campaign files written into a temporary folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

MATRIX = """\
campaign: spring-launch
brand: Acme
product_category: sparkling water
big_idea: Refreshment that keeps up with you
defaults: {provider: openai, model: sora-2, seconds: 8, size: 1280x720}
dimensions:
  aesthetic: [cinematic, lo-fi handheld, pastel minimal]
  type: [product hero, lifestyle, testimonial]
  age_generation: [Gen Z, Millennial]
  gender: [female, male]
overrides:
  - when: {type: testimonial}
    set: {size: "9:16"}
exclude:
  - {aesthetic: pastel minimal, type: testimonial}
limit: 20
seed: 7
template: >
  {{ aesthetic }} {{ type }} video ad for {{ brand }} {{ product_category }}: {{ big_idea }}.
  A {{ age_generation }} {{ gender }} enjoys a cold can.
rules:
  banned_words: [cheap, diet]
  required_phrases: []
  competitors: [Fizzco]
"""

WriteCampaign = Callable[[str], Path]


@pytest.fixture
def matrix() -> str:
    """A 3x3x2x2 campaign with one exclusion (4 combinations) and ``limit: 20``."""
    return MATRIX


@pytest.fixture
def write_campaign(tmp_path: Path) -> WriteCampaign:
    """Write YAML text (dedented) to ``campaign.yaml`` and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "campaign.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
