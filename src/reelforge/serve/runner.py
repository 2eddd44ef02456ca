"""Running ``reelforge serve``: the application under uvicorn and the durable engine, in one
process and one event loop.

:func:`check_binding` refuses a non-loopback address without a token (before anything is
bound). :func:`serve` starts the forge's engine (no batch claimed up front), builds the
application with the engine on its :class:`ServeState`, listens, and keeps resuming every
unfinished batch no other live process runs (:func:`~reelforge.engine.keeper.keep_resuming`,
at start and every few seconds). It returns once asked to stop (SIGINT or SIGTERM, or
``stop``): uvicorn closes, the engine stops as ``reelforge run`` does (what is left pending
continues in the next engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import uvicorn
from pydantic import SecretStr

from reelforge._serve import _listen, uvicorn_config
from reelforge.app.forge import Forge
from reelforge.app.worker import stop_on_signals
from reelforge.core.errors import ConfigError
from reelforge.engine.keeper import RESUME_EVERY, LeaseLostError, keep_resuming, resume_orphans
from reelforge.serve.app import build_app
from reelforge.serve.auth import is_loopback
from reelforge.serve.state import ServeState
from reelforge.sinks.config import SinkPlan
from reelforge.sinks.follow import SinkFollower
from reelforge.store import Store

__all__ = [
    "RESUME_EVERY",
    "LeaseLostError",
    "Served",
    "check_binding",
    "check_public_url",
    "resume_orphans",
    "serve",
]

_STOP_WITHIN = 10.0

log = logging.getLogger("reelforge.serve")


def check_binding(host: str, token: SecretStr | None) -> None:
    """:class:`ConfigError` (exit 2) when ``host`` is not loopback and there is no token."""
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without a token: anyone who can reach it could see "
            "and act on every batch. Set REELFORGE_SERVE_TOKEN (then every page and API call "
            "needs it), or bind to 127.0.0.1"
        )


def check_public_url(url: str) -> str:
    """``--public-url`` without a trailing slash; :class:`ConfigError` (exit 2) unless it is an
    ``http(s)`` URL with a host and no query, fragment or credentials."""
    parts = urlsplit(url.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        shown = "(with credentials)" if "@" in url else repr(url[:200])
        raise ConfigError(
            f"--public-url {shown} is not a usable address: give where providers reach this "
            "server, such as https://reelforge.example.com"
        )
    return url.strip().rstrip("/")


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (an IPv6 address such as ``::1`` included)."""
    bare = host.strip("[]")
    if ":" not in bare:
        return _listen(bare, port)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bare, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on [{bare}]:{port}: {exc}") from exc
    return sock


@dataclass(frozen=True, kw_only=True, slots=True)
class Served:
    """Where the server listens, once it does."""

    url: str
    host: str
    port: int
    db_url: str


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: :func:`serve` owns SIGINT and SIGTERM, so
    stopping never re-raises the signal into a process still closing its engine."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _until_stopped(
    server: uvicorn.Server,
    sock: socket.socket,
    *,
    stop: asyncio.Event,
    lost: asyncio.Event,
    ready: Callable[[int], None],
    stopping: threading.Event | None = None,
) -> None:
    """Serve on ``sock`` until ``stop`` or ``lost`` is set (or uvicorn ends); ``ready(port)``
    once it accepts connections. uvicorn gets at most 10 s to close."""
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        while not server.started and not serving.done():  # noqa: ASYNC110  # uvicorn offers a flag only
            await asyncio.sleep(0.02)
        if serving.done():
            await serving  # raises why it could not start
            raise ConfigError(f"the server did not start on port {sock.getsockname()[1]}")
        ready(sock.getsockname()[1])
        waits = {asyncio.create_task(stop.wait()), asyncio.create_task(lost.wait())}
        await asyncio.wait({serving, *waits}, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
    finally:
        if stopping is not None:
            stopping.set()  # event streams end now, so uvicorn need not wait for them
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(serving, _STOP_WITHIN)


async def serve(
    forge: Forge,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    public_url: str | None = None,
    token: SecretStr | None = None,
    on_ready: Callable[[Served], None] | None = None,
    stop: asyncio.Event | None = None,
    resume_every: float = RESUME_EVERY,
    sinks: SinkPlan | None = None,
) -> SinkFollower:
    """Serve the application and run the engine until SIGINT, SIGTERM or ``stop`` is set;
    ``sinks`` follow the outbox meanwhile (and get their last chance to catch up on the way
    out). Returns the sinks' follower, whose statuses say what is left behind.

    Raises :class:`ConfigError` before anything starts for a non-loopback ``host`` without a
    token or a port in use, and :class:`LeaseLostError` once this process's lease is lost."""
    check_binding(host, token)
    sock = _bind(host, port)
    bare = host.strip("[]")
    shown = f"[{bare}]" if ":" in bare else bare

    def ready(bound: int) -> None:
        if on_ready is not None:
            url = f"http://{shown}:{bound}"
            on_ready(Served(url=url, host=bare, port=bound, db_url=forge.db_url))

    lost = asyncio.Event()
    try:
        async with forge, forge.running(sinks=sinks) as (engine, follower):
            store = Store(forge.db_url)
            state = ServeState(
                store=store, db_url=forge.db_url, public_url=public_url, token=token, engine=engine
            )
            config = uvicorn_config(build_app(state), host=bare, port=port, log_level="warning")
            resuming = asyncio.create_task(keep_resuming(engine, resume_every, lost))
            try:
                with stop_on_signals(stop := stop or asyncio.Event()):
                    await _until_stopped(
                        _Server(config),
                        sock,
                        stop=stop,
                        lost=lost,
                        ready=ready,
                        stopping=state.stopping,
                    )
            finally:
                resuming.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await resuming
                state.engine = None
                state.close()
                store.close()
            if lost.is_set():
                raise LeaseLostError(
                    "this process's executor lease was lost (the database was unreachable or "
                    "another process took its jobs over): it stopped; start it again to continue"
                )
        return follower
    finally:
        sock.close()
