"""The application layer: the :class:`Forge` facade, the single-video pipeline, batch and
campaign runs."""

from reelforge.app.batchrun import BatchResult, run_batch
from reelforge.app.campaignrun import (
    CampaignResult,
    CampaignReview,
    ReviewedCombination,
    review_campaign,
    run_campaign,
)
from reelforge.app.forge import Forge
from reelforge.app.generate import GenerateEvent, GenerateResult, Phase, run_generate
from reelforge.app.jobfile import StatusEntry
from reelforge.app.sync import generate, run
from reelforge.core.polling import PollPolicy

__all__ = [
    "BatchResult",
    "CampaignResult",
    "CampaignReview",
    "Forge",
    "GenerateEvent",
    "GenerateResult",
    "Phase",
    "PollPolicy",
    "ReviewedCombination",
    "StatusEntry",
    "generate",
    "review_campaign",
    "run",
    "run_batch",
    "run_campaign",
    "run_generate",
]
