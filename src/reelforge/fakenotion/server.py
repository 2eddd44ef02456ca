"""Serving the fake over HTTP with uvicorn: blocking (:func:`serve`) or in a thread
(:class:`EmbeddedFakeNotion`)."""

from __future__ import annotations

import uvicorn

from reelforge._serve import ThreadedServer, uvicorn_config
from reelforge.fakenotion.app import create_app
from reelforge.fakenotion.config import FakeNotionConfig
from reelforge.fakenotion.state import FakeNotionState

__all__ = ["EmbeddedFakeNotion", "serve"]


def serve(
    host: str = "127.0.0.1",
    port: int = 8010,
    config: FakeNotionConfig | None = None,
    *,
    state: FakeNotionState | None = None,
) -> None:
    """Run the fake Notion server on ``host:port`` until interrupted (blocking).

    Pass ``state`` to serve one prepared in-process (databases made beforehand).
    """
    if state is None:
        state = FakeNotionState(config)
    uvicorn.Server(uvicorn_config(create_app(state), host=host, port=port, log_level="info")).run()


class EmbeddedFakeNotion(ThreadedServer):
    """A fake Notion served by uvicorn on ``127.0.0.1:<free port>`` in a daemon thread.

    Use it as a context manager (sync or async)::

        with EmbeddedFakeNotion() as fake:
            ids = fake.state.create_database("Jobs", {"Name": {"title": {}}})
            client = AsyncClient(auth="secret", base_url=fake.base_url)
    """

    def __init__(
        self,
        config: FakeNotionConfig | None = None,
        *,
        state: FakeNotionState | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.state = state if state is not None else FakeNotionState(config)
        self.app = create_app(self.state)
        super().__init__(
            self.app,
            host=host,
            port=port,
            log_level=log_level,
            label="the fake Notion server",
            thread_name="reelforge-fakenotion",
        )

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` — what ``notion_client`` takes as ``base_url`` (it adds
        ``/v1`` itself)."""
        return self.url
