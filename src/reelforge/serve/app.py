"""The Starlette application of ``reelforge serve``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from reelforge.serve import api, dashboard, hooks, metrics
from reelforge.serve.auth import AccessMiddleware
from reelforge.serve.state import ServeState

__all__ = ["build_app"]

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def build_app(state: ServeState) -> Starlette:
    """The served application: webhooks, JSON API, dashboard and metrics, behind the serve
    token and the CSRF rules (:mod:`reelforge.serve.auth`). Any other path under ``/api/`` is
    a JSON 404."""
    access = Middleware(AccessMiddleware, token=state.token, public_url=state.public_url)
    app = Starlette(
        routes=[
            *hooks.routes(state),
            *api.routes(state),
            *dashboard.routes(state),
            *metrics.routes(state),
            Route("/api/{rest:path}", api.not_found, methods=_METHODS),
        ],
        middleware=[access],
    )
    app.state.serve = state
    return app
