"""The ground-truth log: every create, every request and every webhook delivery the server saw."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

__all__ = ["CreateRecord", "RequestRecord", "SimLog", "WebhookRecord", "api_key_id"]


def api_key_id(api_key: str) -> str:
    """The short hash a bearer key is logged under (the key itself is never stored)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateRecord:
    """A job the server created (and will bill), whatever the client saw afterwards."""

    video_id: str
    api_key_id: str
    """A short hash of the bearer key; the key itself is never stored."""
    prompt: str
    model: str
    seconds: str
    size: str
    created_at: float
    request_id: str
    remixed_from: str | None = None
    kind: str = "create"
    """``create``, ``remix``, ``edit`` or ``extension``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestRecord:
    """One HTTP request and the status the server answered with."""

    method: str
    path: str
    query: str
    status_code: int
    request_id: str
    api_key_id: str | None
    at: float
    fault: str | None = None
    """The injected fault that shaped this answer, if any (e.g. ``rate_limited``)."""
    video_status: str | None = None
    """The ``status`` of the Video object in the response body, if it carried one."""


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookRecord:
    """One attempt to deliver a webhook event."""

    event_id: str
    event_type: str
    video_id: str
    url: str
    attempt: int
    at: float
    status_code: int | None
    error: str | None = None


@dataclass(slots=True)
class SimLog:
    """Append-only lists, read in-process as ``sim.log`` or over HTTP at ``GET /_sim/log``."""

    creates: list[CreateRecord] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    webhooks: list[WebhookRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, list[dict[str, object]]]:
        """A JSON-ready copy of the whole log."""
        return {
            "creates": [asdict(record) for record in self.creates],
            "requests": [asdict(record) for record in self.requests],
            "webhooks": [asdict(record) for record in self.webhooks],
        }

    def clear(self) -> None:
        """Forget everything (``POST /_sim/reset``)."""
        self.creates.clear()
        self.requests.clear()
        self.webhooks.clear()
