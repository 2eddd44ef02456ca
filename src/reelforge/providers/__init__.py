"""Provider adapters: one small class per video-generation API, behind :class:`Provider`."""

from reelforge.providers.base import Provider

__all__ = ["Provider"]
