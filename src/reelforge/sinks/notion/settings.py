"""Settings of the Notion sink, read from the environment.

``NOTION_TOKEN`` is held as a :class:`pydantic.SecretStr`: it never shows in a repr, a log
line or an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reelforge.core.errors import ConfigError

__all__ = ["DEFAULT_NOTION_BASE_URL", "NotionSettings"]

DEFAULT_NOTION_BASE_URL = "https://api.notion.com"


class NotionSettings(BaseSettings):
    """Where the sink writes, with which token, and under which property names.

    ``property_names`` maps a default property name (``"Cost"``) to the name it has in the
    user's database (``"Estimated cost"``); names not in the mapping are used as they are.
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NOTION_TOKEN", "token")
    )
    database_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "NOTION_BATCH_DATABASE_ID", "NOTION_DATABASE_ID", "database_id"
        ),
    )
    data_source_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NOTION_DATA_SOURCE_ID", "data_source_id"),
    )
    """Which data source of the database to write to, when it has more than one."""
    base_url: str = Field(
        default=DEFAULT_NOTION_BASE_URL,
        validation_alias=AliasChoices("NOTION_BASE_URL", "base_url"),
    )
    public_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REELFORGE_PUBLIC_BASE_URL", "public_base_url"),
    )
    """Where the output folder is published: asset links become ``<base>/<batch>/<key>/<file>``
    (otherwise ``file://`` URIs of the local files)."""
    property_names: Mapping[str, str] = Field(
        default_factory=dict, validation_alias=AliasChoices("property_names")
    )
    requests_per_second: float = Field(
        default=2.8,
        gt=0,
        le=1000,
        validation_alias=AliasChoices("NOTION_REQUESTS_PER_SECOND", "requests_per_second"),
    )
    """Most requests the sink sends per second (``NOTION_REQUESTS_PER_SECOND``): Notion allows
    an average of three, so 2.8 by default; raise it only for a proxy with a higher limit, or
    a fake Notion."""

    @field_validator("token", "database_id", "data_source_id", "public_base_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("base_url", mode="before")
    @classmethod
    def _strip_url(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().rstrip("/") or DEFAULT_NOTION_BASE_URL
        return value

    @field_validator("public_base_url", mode="after")
    @classmethod
    def _strip_public(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("property_names", mode="after")
    @classmethod
    def _freeze_names(cls, value: Mapping[str, Any]) -> Mapping[str, str]:
        names = {str(k).strip(): str(v).strip() for k, v in value.items()}
        blank = sorted(k for k, v in names.items() if not k or not v)
        if blank:
            raise ValueError(f"property names must not be blank: {blank}")
        return MappingProxyType(names)

    def prop(self, default: str) -> str:
        """The user's name for the property called ``default`` by default."""
        return self.property_names.get(default, default)

    def require(self) -> tuple[str, str]:
        """The token and the database id; :class:`ConfigError` naming the variables if either
        is missing."""
        missing = []
        if self.token is None:
            missing.append("NOTION_TOKEN")
        if self.database_id is None:
            missing.append("NOTION_BATCH_DATABASE_ID (or NOTION_DATABASE_ID)")
        if missing or self.token is None or self.database_id is None:
            raise ConfigError(f"the Notion sink needs {' and '.join(missing)} to be set")
        return self.token.get_secret_value(), self.database_id
