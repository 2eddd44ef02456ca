"""A local server of the OpenAI Videos protocol (``/v1/videos``), for tests, demos and keyless runs.

It is a separate ASGI app (Starlette): tests reach it through ``httpx.ASGITransport(app=sim.app)``,
the CLI and benchmarks run it under uvicorn (:func:`serve`, :class:`EmbeddedSimulator`). Jobs
progress on an injected clock scaled by ``time_scale``; finished jobs serve real, deterministic
media; faults are injected from :class:`FaultConfig`; ``sim.log`` records every create and request.
"""

from reelforge.sim.config import (
    DEFAULT_TIME_SCALE,
    ExtraModel,
    FaultConfig,
    RateLimitBurst,
    SimConfig,
    WebhookConfig,
    load_sim_config,
)
from reelforge.sim.log import CreateRecord, RequestRecord, SimLog, WebhookRecord, api_key_id
from reelforge.sim.server import EmbeddedSimulator, serve
from reelforge.sim.simulator import Simulator
from reelforge.sim.state import VideoView

__all__ = [
    "DEFAULT_TIME_SCALE",
    "CreateRecord",
    "EmbeddedSimulator",
    "ExtraModel",
    "FaultConfig",
    "RateLimitBurst",
    "RequestRecord",
    "SimConfig",
    "SimLog",
    "Simulator",
    "VideoView",
    "WebhookConfig",
    "WebhookRecord",
    "api_key_id",
    "load_sim_config",
    "serve",
]
