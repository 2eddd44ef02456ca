"""The ``replicate`` provider's registry entry and settings.

Settings, from the environment:

* ``REPLICATE_API_TOKEN`` — the API token (``r8_…``), sent as ``Authorization: Bearer``;
* ``REPLICATE_BASE_URL`` — ``https://api.replicate.com`` by default (the client's own name);
* ``REELFORGE_PUBLIC_URL`` — where this machine is reachable; when set, creates ask Replicate
  for a completion webhook at ``<url>/hooks/replicate``.

With neither token nor base URL set, the built-in simulator serves this provider.
"""

from __future__ import annotations

import httpx
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reelforge.core.capabilities import ModelCapabilities, capabilities_for
from reelforge.core.clock import Clock
from reelforge.providers.base import Provider
from reelforge.providers.registry import Endpoint
from reelforge.providers.replicate import DEFAULT_BASE_URL, ReplicateProvider

__all__ = ["REPLICATE", "ReplicateEntry", "ReplicateSettings"]

SIMULATOR_TOKEN = "r8-sim-local"  # noqa: S105  # the simulator accepts any token
"""A placeholder token the built-in simulator accepts; not a secret."""


class ReplicateSettings(BaseSettings):
    """The ``replicate`` provider's settings. The token is a :class:`SecretStr`: it never
    shows in a repr, a log line or an error message."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REPLICATE_API_TOKEN", "api_token")
    )
    base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REPLICATE_BASE_URL", "base_url")
    )
    public_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REELFORGE_PUBLIC_URL", "public_url")
    )

    @field_validator("api_token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("base_url", "public_url", mode="before")
    @classmethod
    def _strip_url(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().rstrip("/")
            return value or None
        return value

    @property
    def has_credentials(self) -> bool:
        """Whether a token is set (otherwise the simulator serves this provider)."""
        return self.api_token is not None


class ReplicateEntry:
    """The registry entry of Replicate's predictions API."""

    name = "replicate"
    credentials_hint = (
        "set REPLICATE_API_TOKEN (and REPLICATE_BASE_URL for another host), or leave both "
        "unset to use the built-in simulator"
    )

    def configured(self) -> Endpoint | None:
        settings = ReplicateSettings()
        if settings.api_token is None and settings.base_url is None:
            return None
        return Endpoint(
            provider=self.name,
            base_url=settings.base_url or DEFAULT_BASE_URL,
            credential=settings.api_token,
        )

    def simulated(self, simulator_url: str) -> Endpoint | None:
        # The simulator serves /v1/predictions at its root; ``simulator_url`` may end in /v1.
        root = simulator_url.rstrip("/").removesuffix("/v1")
        return Endpoint(
            provider=self.name,
            base_url=root,
            credential=SecretStr(SIMULATOR_TOKEN),
            simulated=True,
        )

    def capabilities(self, model: str) -> ModelCapabilities:
        return capabilities_for(model, provider=self.name)

    def build(self, endpoint: Endpoint, *, client: httpx.AsyncClient, clock: Clock) -> Provider:
        return ReplicateProvider(
            client,
            base_url=endpoint.base_url,
            api_token=endpoint.credential,
            public_url=ReplicateSettings().public_url,
            clock=clock,
        )


REPLICATE = ReplicateEntry()
