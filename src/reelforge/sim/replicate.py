"""The simulator's replicate protocol (being built: routes come next)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.routing import Route

from reelforge.sim.routing import Wrap

if TYPE_CHECKING:
    from reelforge.sim.simulator import Simulator

__all__ = ["routes", "running"]


def routes(sim: Simulator, wrap: Wrap) -> list[Route]:
    """The protocol's routes."""
    return []


@contextlib.asynccontextmanager
async def running(sim: Simulator) -> AsyncIterator[None]:
    """Background work (webhook deliveries) while the app runs."""
    yield
