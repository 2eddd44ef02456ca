"""The ``fal`` provider's registry entry and settings: fal's queue API.

Settings, from the environment:

* ``FAL_KEY`` — the key (``key_id:key_secret``), or ``FAL_KEY_ID`` and ``FAL_KEY_SECRET``
  (joined ``id:secret``);
* ``FAL_QUEUE_BASE_URL`` — where requests go, ``https://queue.fal.run`` by default;
* ``REELFORGE_PUBLIC_URL`` — reelforge's own public URL: when set, each submission asks fal
  for a webhook at ``<public>/hooks/fal?token=<job token>``.

With none of the fal settings, the built-in simulator (which speaks fal's protocol at its root)
serves this provider.
"""

from __future__ import annotations

import httpx
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reelforge.core.capabilities import ModelCapabilities, capabilities_for
from reelforge.core.clock import Clock
from reelforge.providers.base import Provider
from reelforge.providers.fal import DEFAULT_QUEUE_URL, FalProvider
from reelforge.providers.registry import Endpoint

__all__ = ["FAL", "FalEntry", "FalSettings"]

SIMULATOR_KEY = "sim-key-id:sim-key-secret"
"""A placeholder key the built-in simulator accepts; not a secret."""


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class FalSettings(BaseSettings):
    """The ``fal`` provider's settings. Keys are :class:`SecretStr`: never in a repr, a log
    line or an error message."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    fal_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("FAL_KEY"))
    key_id: SecretStr | None = Field(default=None, validation_alias=AliasChoices("FAL_KEY_ID"))
    key_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("FAL_KEY_SECRET")
    )
    queue_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("FAL_QUEUE_BASE_URL")
    )
    public_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REELFORGE_PUBLIC_URL")
    )

    @field_validator("fal_key", "key_id", "key_secret", mode="before")
    @classmethod
    def _blank_key(cls, value: object) -> object:
        return _blank_is_none(value)

    @field_validator("queue_base_url", "public_url", mode="before")
    @classmethod
    def _strip_url(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().rstrip("/")
            return value or None
        return value

    @property
    def key(self) -> SecretStr | None:
        """``FAL_KEY``, else ``FAL_KEY_ID:FAL_KEY_SECRET`` when both are set."""
        if self.fal_key is not None:
            return SecretStr(self.fal_key.get_secret_value().strip())
        if self.key_id is not None and self.key_secret is not None:
            joined = f"{self.key_id.get_secret_value().strip()}:"
            return SecretStr(joined + self.key_secret.get_secret_value().strip())
        return None

    @property
    def has_credentials(self) -> bool:
        """Whether a key is set (otherwise the simulator serves this provider)."""
        return self.key is not None


class FalEntry:
    """The registry entry of fal's queue API."""

    name = "fal"
    credentials_hint = (
        "set FAL_KEY (or FAL_KEY_ID and FAL_KEY_SECRET), and FAL_QUEUE_BASE_URL for another "
        "queue host, or leave them unset to use the built-in simulator"
    )

    def configured(self) -> Endpoint | None:
        settings = FalSettings()
        if settings.key is None and settings.queue_base_url is None:
            return None
        return Endpoint(
            provider=self.name,
            base_url=settings.queue_base_url or DEFAULT_QUEUE_URL,
            credential=settings.key,
        )

    def simulated(self, simulator_url: str) -> Endpoint | None:
        # The simulator speaks fal's protocol at its root, beside /v1.
        root = simulator_url.rstrip("/").removesuffix("/v1")
        return Endpoint(
            provider=self.name, base_url=root, credential=SecretStr(SIMULATOR_KEY), simulated=True
        )

    def capabilities(self, model: str) -> ModelCapabilities:
        return capabilities_for(model, provider=self.name)

    def build(self, endpoint: Endpoint, *, client: httpx.AsyncClient, clock: Clock) -> Provider:
        return FalProvider(
            client,
            base_url=endpoint.base_url,
            api_key=endpoint.credential,
            public_url=FalSettings().public_url,
            clock=clock,
        )


FAL = FalEntry()
