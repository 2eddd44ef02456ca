"""Provider adapters: one small class per video-generation API, behind :class:`Provider`."""

from reelforge.providers._retry import RetryPolicy
from reelforge.providers.base import Provider
from reelforge.providers.openai import OpenAIVideosProvider

__all__ = ["OpenAIVideosProvider", "Provider", "RetryPolicy"]
