"""The served application's hooks routes (being built; see the serve issue)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from reelforge.serve.state import ServeState

__all__ = ["routes"]


def routes(state: ServeState) -> list[BaseRoute]:
    """The hooks routes."""
    return []
