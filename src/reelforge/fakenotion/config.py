"""The fake Notion server's settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["NOTION_VERSION", "FakeNotionConfig"]

NOTION_VERSION = "2025-09-03"
"""The API version the fake speaks (and the only ``Notion-Version`` it accepts)."""


class FakeNotionConfig(BaseModel):
    """Rate limit and accepted tokens. Frozen; unknown keys are rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_limit: bool = True
    """Answer 429 ``rate_limited`` when a token's bucket is empty."""
    requests_per_second: float = Field(default=3.0, gt=0)
    """The average rate a token may sustain (Notion documents 3)."""
    burst: int = Field(default=10, ge=1)
    """Requests a token may make at once after being idle."""
    tokens: tuple[str, ...] = ()
    """Accepted bearer tokens; empty accepts any non-empty token."""
    accepted_versions: tuple[str, ...] = (NOTION_VERSION,)
    """``Notion-Version`` values answered; others get 400 ``validation_error``."""
    require_title: bool = True
    """A page create must set the data source's title property."""
