"""The ``openai`` provider's registry entry and settings: the OpenAI Videos protocol at any
base URL (OpenAI's own host closed on 2026-09-24; gateways such as LiteLLM's proxy serve it).

Settings, from the environment:

* ``OPENAI_API_KEY`` — the key for the endpoint (a gateway's key when going through one);
* ``OPENAI_BASE_URL`` (also ``SORA_API_BASE_URL``, the original spec's name) — where requests
  go, ``https://api.openai.com/v1`` by default;
* ``OPENAI_WEBHOOK_SECRET`` with ``REELFORGE_PUBLIC_URL`` — the endpoint's project sends its
  ``video.*`` webhooks to ``<public URL>/hooks/openai`` (set up on the provider's side): jobs
  are then polled only as a slow safety net, ``reelforge serve`` waking them as they end.

With neither set, the built-in simulator serves this provider.
"""

from __future__ import annotations

import httpx
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reelforge.core.capabilities import ModelCapabilities, capabilities_for
from reelforge.core.clock import Clock
from reelforge.core.config import DEFAULT_BASE_URL
from reelforge.providers.base import Provider
from reelforge.providers.openai import OpenAIVideosProvider
from reelforge.providers.registry import Endpoint

__all__ = ["OPENAI", "OpenAIEntry", "OpenAISettings"]

SIMULATOR_KEY = "sk-sim-local"
"""A placeholder key the built-in simulator accepts; not a secret."""


class OpenAISettings(BaseSettings):
    """The ``openai`` provider's settings. The key is a :class:`SecretStr`: it never shows in a
    repr, a log line or an error message."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "api_key")
    )
    base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "SORA_API_BASE_URL", "base_url"),
    )

    webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_WEBHOOK_SECRET", "webhook_secret")
    )
    public_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REELFORGE_PUBLIC_URL", "public_url")
    )

    @field_validator("api_key", "webhook_secret", "public_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("base_url", mode="before")
    @classmethod
    def _strip_url(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().rstrip("/")
            return value or None
        return value

    @property
    def has_credentials(self) -> bool:
        """Whether a key is set (otherwise the simulator serves this provider)."""
        return self.api_key is not None

    @property
    def webhooks(self) -> bool:
        """Whether the endpoint's webhooks reach a receiver (a secret and a public URL)."""
        return self.webhook_secret is not None and self.public_url is not None


class OpenAIEntry:
    """The registry entry of the OpenAI Videos protocol."""

    name = "openai"
    credentials_hint = (
        "set OPENAI_API_KEY (and OPENAI_BASE_URL or --base-url for a gateway), or leave both "
        "unset to use the built-in simulator"
    )

    def configured(self) -> Endpoint | None:
        settings = OpenAISettings()
        if settings.api_key is None and settings.base_url is None:
            return None
        return Endpoint(
            provider=self.name,
            base_url=settings.base_url or DEFAULT_BASE_URL,
            credential=settings.api_key,
        )

    def simulated(self, simulator_url: str) -> Endpoint | None:
        return Endpoint(
            provider=self.name,
            base_url=simulator_url,
            credential=SecretStr(SIMULATOR_KEY),
            simulated=True,
        )

    def capabilities(self, model: str) -> ModelCapabilities:
        return capabilities_for(model, provider=self.name)

    def build(self, endpoint: Endpoint, *, client: httpx.AsyncClient, clock: Clock) -> Provider:
        return OpenAIVideosProvider(
            client,
            base_url=endpoint.base_url,
            api_key=endpoint.credential,
            clock=clock,
            webhooks=OpenAISettings().webhooks,
        )


OPENAI = OpenAIEntry()
