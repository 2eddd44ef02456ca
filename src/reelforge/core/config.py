"""Settings from the environment (and, later, ``reelforge.toml``).

Secrets are held as :class:`pydantic.SecretStr`, so they never show in a repr, a log line or an
error message.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_DB_PATH", "Settings", "database_url", "display_url"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_DB_PATH = Path(".reelforge") / "reelforge.db"


class Settings(BaseSettings):
    """Everything reelforge reads from the environment.

    ``OPENAI_BASE_URL`` also answers to the original spec's ``SORA_API_BASE_URL``.
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "SORA_API_BASE_URL", "openai_base_url"),
    )
    openai_webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_WEBHOOK_SECRET", "openai_webhook_secret"),
    )

    reelforge_db_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REELFORGE_DB_URL", "reelforge_db_url")
    )

    @field_validator("openai_api_key", "openai_webhook_secret", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("openai_base_url", mode="before")
    @classmethod
    def _strip_url(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().rstrip("/")
            return value or None
        return value

    @property
    def has_credentials(self) -> bool:
        """Whether a real provider key is configured (otherwise the simulator is used)."""
        return self.openai_api_key is not None


def database_url(value: str | Path | None = None, settings: Settings | None = None) -> str:
    """A database URL from ``--db`` (a URL or a file path), ``REELFORGE_DB_URL``, or the
    default SQLite file ``.reelforge/reelforge.db`` under the current folder."""
    chosen = value if value is not None else (settings or Settings()).reelforge_db_url
    if chosen is None:
        chosen = DEFAULT_DB_PATH
    text = str(chosen)
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def display_url(url: str) -> str:
    """``url`` fit for printing: a SQLite URL as its file path, any other with its password
    masked (``postgresql://app:***@db/reelforge``)."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the database"
