"""The Starlette application of ``reelforge serve``."""

from __future__ import annotations

from starlette.applications import Starlette

from reelforge.serve import api, dashboard, hooks
from reelforge.serve.state import ServeState

__all__ = ["build_app"]


def build_app(state: ServeState) -> Starlette:
    """The served application: webhooks, JSON API, dashboard."""
    app = Starlette(routes=[*hooks.routes(state), *api.routes(state), *dashboard.routes(state)])
    app.state.serve = state
    return app
