"""The application layer: the :class:`Forge` facade, batch and campaign runs, and one video
(a one-job batch) on the durable engine."""

from reelforge.app.batchrun import BatchResult, run_batch
from reelforge.app.campaignrun import (
    CampaignResult,
    CampaignReview,
    ReviewedCombination,
    review_campaign,
    run_campaign,
)
from reelforge.app.forge import Forge
from reelforge.app.generate import (
    FailureReason,
    GenerateEvent,
    GenerateResult,
    Phase,
    StatusEntry,
)
from reelforge.app.sync import generate, run
from reelforge.core.polling import PollPolicy

__all__ = [
    "BatchResult",
    "CampaignResult",
    "CampaignReview",
    "FailureReason",
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
]
