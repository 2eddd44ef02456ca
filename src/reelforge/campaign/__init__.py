"""Campaigns: a creative matrix of dimensions expanded into validated, stable jobs.

::

    campaign: spring-launch
    brand: Acme
    product_category: sparkling water
    big_idea: Refreshment that keeps up with you
    defaults: {provider: openai, model: sora-2, seconds: 8, size: 1280x720}
    dimensions:
      aesthetic: [cinematic, lo-fi handheld, pastel minimal]
      type: [product hero, lifestyle, testimonial]
    overrides:
      - when: {type: testimonial}
        set: {size: 720x1280}
    exclude:
      - {aesthetic: pastel minimal, type: testimonial}
    limit: 50
    seed: 7
    template: "{{ aesthetic }} {{ type }} video ad for {{ brand }} {{ product_category }}"
    rules: {banned_words: [cheap], required_phrases: [], competitors: [Fizzco]}

``Campaign.load(path).plan()`` gives one :class:`PlannedCombination` per combination, and
:meth:`CampaignPlan.to_batch` the batch to run. Every problem in the file is raised together
as one :class:`CampaignError` (exit code 2), located by line.

:class:`PromptWriter` turns a combination's prompt into a richer single-shot description through a
Responses model; :class:`PromptCache` keeps the answers on disk so a re-run costs no requests.
"""

from reelforge.campaign.errors import CampaignError, CampaignIssue
from reelforge.campaign.labels import CampaignLabels, campaign_labels
from reelforge.campaign.model import Campaign, CampaignPlan, CampaignRules, PlannedCombination
from reelforge.campaign.writer import PromptCache, PromptWriter

__all__ = [
    "Campaign",
    "CampaignError",
    "CampaignIssue",
    "CampaignLabels",
    "CampaignPlan",
    "CampaignRules",
    "PlannedCombination",
    "PromptCache",
    "PromptWriter",
    "campaign_labels",
]
