"""Serving the simulator over HTTP with uvicorn: blocking (:func:`serve`) or in a thread
(:class:`EmbeddedSimulator`)."""

from __future__ import annotations

import uvicorn

from reelforge._serve import ThreadedServer, uvicorn_config
from reelforge.sim.clock import NowClock
from reelforge.sim.config import SimConfig
from reelforge.sim.simulator import Simulator

__all__ = ["EmbeddedSimulator", "serve"]


def serve(config: SimConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the simulator on ``host:port`` until interrupted (blocking)."""
    sim = Simulator(config)
    try:
        settings = uvicorn_config(sim.app, host=host, port=port, log_level="info", lifespan="on")
        uvicorn.Server(settings).run()
    finally:
        sim.close()


class EmbeddedSimulator(ThreadedServer):
    """A :class:`Simulator` served by uvicorn on ``127.0.0.1:<free port>`` in a daemon thread.

    Use it as a context manager (sync or async)::

        with EmbeddedSimulator(SimConfig(time_scale=200)) as emb:
            client = OpenAI(base_url=emb.base_url, api_key="sk-test")
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        clock: NowClock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.sim = Simulator(config, clock=clock)
        try:
            super().__init__(
                self.sim.app,
                host=host,
                port=port,
                log_level=log_level,
                lifespan="on",
                label="the simulator",
                thread_name="reelforge-sim",
            )
        except BaseException:
            self.sim.close()
            raise

    @property
    def base_url(self) -> str:
        """The API base URL clients use: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    def stop(self) -> None:
        """Stop serving and wait for the thread; remove the media cache."""
        super().stop()
        self.sim.close()
