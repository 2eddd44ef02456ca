"""The application layer: the :class:`Forge` facade and the single-video pipeline."""

from reelforge.app.batchrun import BatchResult, run_batch
from reelforge.app.forge import Forge
from reelforge.app.generate import GenerateEvent, GenerateResult, Phase, run_generate
from reelforge.app.jobfile import StatusEntry
from reelforge.app.sync import generate, run
from reelforge.core.polling import PollPolicy

__all__ = [
    "BatchResult",
    "Forge",
    "GenerateEvent",
    "GenerateResult",
    "Phase",
    "PollPolicy",
    "StatusEntry",
    "generate",
    "run",
    "run_batch",
    "run_generate",
]
