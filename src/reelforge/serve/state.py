"""What every part of the served application shares: the store, the way to wake a job's
workflow, and the settings ``reelforge serve`` was started with."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import SecretStr

from reelforge.engine.control import WorkflowControl
from reelforge.store import Store

if TYPE_CHECKING:
    from reelforge.engine import Engine

__all__ = ["ServeState"]


@dataclass
class ServeState:
    """The served application's shared state (one per :func:`~reelforge.serve.build_app`)."""

    store: Store
    """reelforge's tables on the served database."""
    db_url: str
    public_url: str | None = None
    """Where providers reach this process (``--public-url``); None: no webhooks are attached."""
    token: SecretStr | None = field(default=None, repr=False)
    """``REELFORGE_SERVE_TOKEN``: required on every page and API call when set."""
    control: WorkflowControl | None = field(default=None, repr=False)
    stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set when the server begins to stop: long-lived answers (the event stream) end at once."""
    engine: Engine | None = field(default=None, repr=False)
    """The durable engine running in this process (set by ``reelforge serve`` once it has
    started, None before and after, and when an application is built without one): actions
    use it to start, retry or cancel jobs (``engine.retry(batch_id)``, ``engine.start(job_id)``)."""

    def workflows(self) -> WorkflowControl:
        """The engine's job workflows on the served database (opened on first use)."""
        if self.control is None:
            self.control = WorkflowControl(self.db_url)
        return self.control

    async def wake(self, job_id: str) -> str | None:
        """Wake the job's live workflow at once (as ``reelforge poke`` does); its id, or None
        when the job has no running workflow."""
        return await asyncio.to_thread(self.workflows().poke, job_id)

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None
