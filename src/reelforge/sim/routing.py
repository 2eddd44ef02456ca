"""The types a protocol module uses to mount its routes on the simulator's app.

Every protocol (OpenAI Videos, fal's queue, Replicate's predictions) shares one request
pipeline — authentication, rate limits, injected faults, the request log — and differs only in
how it reads a credential and how it words an error. A protocol module exposes
``routes(sim, wrap)`` returning Starlette routes whose endpoints it made with ``wrap``, and
``running(sim)``, an async context manager for its background work (webhook deliveries).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from reelforge.sim.protocol import ApiError
    from reelforge.sim.videos import Ctx

__all__ = ["Authenticate", "Endpoint", "Handler", "RenderError", "Wrap"]

Handler = Callable[["Ctx"], Awaitable[Response]]
"""A protocol handler: one authenticated request in, a response out."""
Endpoint = Callable[[Request], Awaitable[Response]]
"""What Starlette calls."""
Authenticate = Callable[[Request], str]
"""Reads a request's credential; returns the key's log id or raises ``ApiError`` (401)."""
RenderError = Callable[["ApiError"], Response]
"""Turns an error (a real one or an injected fault) into the protocol's own error response."""


class Wrap(Protocol):
    """Makes an :data:`Endpoint` of a handler, inside the shared request pipeline.

    ``creates`` marks a paid create: injected 5xx faults then happen inside the handler
    (before or after the job exists), not in front of it.
    """

    def __call__(
        self,
        handler: Handler,
        *,
        creates: bool = False,
        authenticate: Authenticate,
        render_error: RenderError,
    ) -> Endpoint: ...
