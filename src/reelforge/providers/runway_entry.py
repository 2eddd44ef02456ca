"""The ``runway`` provider's registry entry and settings.

Settings, from the environment (the names Runway's own client reads):

* ``RUNWAYML_API_SECRET`` — the API key, sent as ``Authorization: Bearer``;
* ``RUNWAYML_BASE_URL`` — ``https://api.dev.runwayml.com`` by default.

With neither set, the built-in simulator serves this provider.
"""

from __future__ import annotations

import httpx
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reelforge.core.capabilities import ModelCapabilities, capabilities_for
from reelforge.core.clock import Clock
from reelforge.providers.base import Provider
from reelforge.providers.registry import Endpoint
from reelforge.providers.runway import DEFAULT_BASE_URL, RunwayProvider

__all__ = ["RUNWAY", "RunwayEntry", "RunwaySettings"]

SIMULATOR_SECRET = "rw-sim-local"  # noqa: S105  # the simulator accepts any key
"""A placeholder key the built-in simulator accepts; not a secret."""


class RunwaySettings(BaseSettings):
    """The ``runway`` provider's settings. The key is a :class:`SecretStr`: it never shows in a
    repr, a log line or an error message."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    api_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("RUNWAYML_API_SECRET", "api_secret")
    )
    base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("RUNWAYML_BASE_URL", "base_url")
    )

    @field_validator("api_secret", mode="before")
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
        return self.api_secret is not None


class RunwayEntry:
    """The registry entry of Runway's tasks API."""

    name = "runway"
    credentials_hint = (
        "set RUNWAYML_API_SECRET (and RUNWAYML_BASE_URL for another host), or leave both "
        "unset to use the built-in simulator"
    )

    def configured(self) -> Endpoint | None:
        settings = RunwaySettings()
        if settings.api_secret is None and settings.base_url is None:
            return None
        return Endpoint(
            provider=self.name,
            base_url=settings.base_url or DEFAULT_BASE_URL,
            credential=settings.api_secret,
        )

    def simulated(self, simulator_url: str) -> Endpoint | None:
        # The simulator serves /v1/tasks at its root; ``simulator_url`` may end in /v1.
        root = simulator_url.rstrip("/").removesuffix("/v1")
        return Endpoint(
            provider=self.name,
            base_url=root,
            credential=SecretStr(SIMULATOR_SECRET),
            simulated=True,
        )

    def capabilities(self, model: str) -> ModelCapabilities:
        return capabilities_for(model, provider=self.name)

    def build(self, endpoint: Endpoint, *, client: httpx.AsyncClient, clock: Clock) -> Provider:
        return RunwayProvider(
            client,
            base_url=endpoint.base_url,
            api_secret=endpoint.credential,
            clock=clock,
        )


RUNWAY = RunwayEntry()
