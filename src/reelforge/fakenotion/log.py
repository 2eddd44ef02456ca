"""The fake's request log: what it was asked and what it answered, with the token only as a hash."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass

__all__ = ["RequestLog", "RequestRecord", "token_hash"]


def token_hash(token: str) -> str:
    """The short hash a bearer token is logged under (the token itself is never stored)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestRecord:
    """One ``/v1`` request and the status the fake answered with."""

    monotonic: float
    """``time.monotonic()`` (or the injected clock) when the request arrived."""
    wall: str
    """ISO 8601 UTC time when the request arrived."""
    method: str
    path: str
    status: int
    code: str | None
    """The error ``code`` of a failed request (``rate_limited``, ``validation_error``…)."""
    request_id: str
    token_hash: str | None
    """A short hash of the bearer token (:func:`token_hash`); ``None`` if there was none."""

    @property
    def is_page_create(self) -> bool:
        """A successful ``POST /v1/pages``."""
        return self.method == "POST" and self.path.rstrip("/") == "/v1/pages" and self.status == 200


class RequestLog:
    """Append-only and thread-safe; read in-process as ``state.log`` or at ``GET /_fake/log``."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        """Record one request."""
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[RequestRecord]:
        """A copy of every record so far, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()

    def page_creates(self, *, token: str | None = None) -> int:
        """How many pages were created (successful ``POST /v1/pages``), optionally by one token."""
        wanted = token_hash(token) if token is not None else None
        return sum(
            1
            for r in self.records
            if r.is_page_create and (wanted is None or r.token_hash == wanted)
        )

    def max_in_window(self, window: float = 10.0, *, token: str | None = None) -> int:
        """The most requests that arrived within any ``window`` seconds (monotonic times).

        ``max_in_window(10) <= 30`` means no 10-second window averaged above 3 requests/second.
        """
        wanted = token_hash(token) if token is not None else None
        times = sorted(
            r.monotonic for r in self.records if wanted is None or r.token_hash == wanted
        )
        best = 0
        start = 0
        for end, at in enumerate(times):
            while at - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def to_json(self) -> list[dict[str, object]]:
        """A JSON-ready copy of every record."""
        return [asdict(record) for record in self.records]
