"""A real webhook receiver on a loopback port: verifies signatures with ``verify_webhook``,
deduplicates by ``webhook-id``, and answers what a test scripts (503s, a 410...)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reelforge._serve import ThreadedServer
from reelforge.sinks import InvalidWebhookError, verify_webhook


@dataclass
class Received:
    """What the receiver saw, guarded by one lock (the server runs in its own thread)."""

    attempts: list[str] = field(default_factory=list)
    """Every ``webhook-id`` that arrived with a valid signature, in arrival order."""
    accepted: list[dict[str, Any]] = field(default_factory=list)
    """Each event's payload, once, in the order first accepted."""
    accepted_ids: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    """The reasons of requests that failed verification."""


class Receiver:
    """Serve on ``127.0.0.1:<free port>`` in a daemon thread while used as a context manager.

    ``answers`` is consumed one status per verified request before any 2xx (e.g.
    ``[503, 503]``); ``gone`` makes every request answer 410.
    """

    def __init__(self, secret: str, *, answers: list[int] | None = None) -> None:
        self.secret = secret
        self.answers = list(answers or [])
        self.gone = False
        self.retry_after: str | None = None
        self.accept_limit: int | None = None
        """Once this many events are accepted, answer 503 to everything new."""
        self.received = Received()
        self.lock = threading.Lock()
        app = Starlette(routes=[Route("/hooks/reelforge", self._hook, methods=["POST"])])
        self._server = ThreadedServer(
            app,
            label="the receiver",
            thread_name="webhook-receiver",
            timeout_graceful_shutdown=None,  # on exit, let requests in progress finish
        )
        self.port = self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/reelforge"

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        try:
            document = verify_webhook(body, request.headers, self.secret)
        except InvalidWebhookError as exc:
            with self.lock:
                self.received.invalid.append(exc.reason)
            return JSONResponse({"error": str(exc)}, status_code=400)
        identifier = request.headers["webhook-id"]
        with self.lock:
            self.received.attempts.append(identifier)
            if self.gone:
                return Response(status_code=410)
            limit = self.accept_limit
            if limit is not None and len(self.received.accepted) >= limit:
                return Response(status_code=503)
            if self.answers:
                status = self.answers.pop(0)
                headers = {"retry-after": self.retry_after} if self.retry_after else None
                return Response(status_code=status, headers=headers)
            if identifier in self.received.accepted_ids:
                self.received.duplicates.append(identifier)
            else:
                self.received.accepted_ids.append(identifier)
                self.received.accepted.append(document)
        return Response(status_code=204)

    def snapshot(self) -> Received:
        with self.lock:
            return Received(
                attempts=list(self.received.attempts),
                accepted=list(self.received.accepted),
                accepted_ids=list(self.received.accepted_ids),
                duplicates=list(self.received.duplicates),
                invalid=list(self.received.invalid),
            )

    def __enter__(self) -> Receiver:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()


def events_by_job(accepted: list[dict[str, Any]]) -> Iterator[tuple[str, list[int]]]:
    """Each job's event ids in the order the receiver accepted them."""
    jobs: dict[str, list[int]] = {}
    for document in accepted:
        jobs.setdefault(document["data"]["job_id"], []).append(document["data"]["event_id"])
    yield from jobs.items()
