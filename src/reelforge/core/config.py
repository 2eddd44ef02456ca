"""reelforge's own settings from the environment, and database URLs.

Secrets (held by each provider's and sink's own settings) are :class:`pydantic.SecretStr`, so
they never show in a repr, a log line or an error message.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_DB_PATH", "Settings", "database_url", "display_url"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_DB_PATH = Path(".reelforge") / "reelforge.db"


class Settings(BaseSettings):
    """reelforge's own settings from the environment (``REELFORGE_DB_URL``).

    Each provider owns its settings in its own module (``OPENAI_API_KEY`` and
    ``OPENAI_BASE_URL`` in :mod:`reelforge.providers.openai_entry`); sinks own theirs.
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    reelforge_db_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REELFORGE_DB_URL", "reelforge_db_url")
    )


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
