"""Provider adapters: one small class per video-generation API, behind :class:`Provider`, and
the registry that routes a job's ``provider`` to its adapter."""

from reelforge.providers._retry import RetryPolicy
from reelforge.providers.base import Provider
from reelforge.providers.openai import OpenAIVideosProvider
from reelforge.providers.registry import (
    Endpoint,
    ProviderEntry,
    Providers,
    known_providers,
    register,
    unregister,
)

__all__ = [
    "Endpoint",
    "OpenAIVideosProvider",
    "Provider",
    "ProviderEntry",
    "Providers",
    "RetryPolicy",
    "known_providers",
    "register",
    "unregister",
]
