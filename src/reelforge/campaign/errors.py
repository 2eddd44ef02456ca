"""Problems found in a campaign file, and the error that carries all of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reelforge.batch.errors import IssueListError

__all__ = ["CampaignError", "CampaignIssue"]


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignIssue:
    """One problem in a campaign file, with where it is.

    ``field`` is the dotted path of what is wrong (``"overrides.0.set.size"``,
    ``"dimensions.gender"``, ``"template"``); ``line`` is the file's 1-based line, when known.
    """

    message: str
    field: str
    source: str
    """The file as it was named (or ``"<string>"``)."""
    path: Path | None = None
    line: int | None = None
    value: object = None
    allowed: tuple[str, ...] | None = None

    @property
    def location(self) -> str:
        """``"campaign.yaml:14"``, or just the source."""
        return f"{self.source}:{self.line}" if self.line is not None else self.source

    def __str__(self) -> str:
        return ": ".join(part for part in (self.location, self.field, self.message) if part)


class CampaignError(IssueListError[CampaignIssue]):
    """A campaign file is unusable; nothing was planned or sent (exit code 2).

    ``errors`` lists every problem found; ``field``, ``value``, ``allowed``, ``path`` and
    ``line`` describe the first. The message shows the first :attr:`shown` problems.
    """
