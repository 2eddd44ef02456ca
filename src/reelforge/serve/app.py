"""The Starlette application of ``reelforge serve``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from reelforge.serve import api, dashboard, hooks
from reelforge.serve.auth import AccessMiddleware
from reelforge.serve.state import ServeState

__all__ = ["build_app"]


def build_app(state: ServeState) -> Starlette:
    """The served application: webhooks, JSON API, dashboard, behind the serve token and the
    CSRF rules (:mod:`reelforge.serve.auth`)."""
    access = Middleware(AccessMiddleware, token=state.token, public_url=state.public_url)
    app = Starlette(
        routes=[*hooks.routes(state), *api.routes(state), *dashboard.routes(state)],
        middleware=[access],
    )
    app.state.serve = state
    return app
