"""A real gateway between reelforge and its simulator: LiteLLM's proxy, every server and client
inside one loopback-only network namespace.

Some LiteLLM paths ignore ``api_base`` and call the public OpenAI host, and no test may send a
packet off this machine. So ``reelforge sim``, the proxy and every ``reelforge`` command run
inside a network namespace whose only interface is ``lo`` (``ip netns add`` + ``ip netns
exec``); the test process stays outside and reads the simulator's ground truth (``/_sim/log``,
``/_sim/videos``) through a short-lived reader started inside the namespace.

The namespace and the processes in it are ``netns_kit``'s.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from netns_kit import Completed, Namespace, Service, missing_tools

__all__ = [
    "INSTALL_COMMAND",
    "MASTER_KEY",
    "PROXY_ENV",
    "UPSTREAM_KEY",
    "Gateway",
    "GatewaySim",
    "SimFactory",
    "api_key_id",
    "find_proxy",
    "missing_prerequisites",
    "peak_in_flight",
    "proxy_config",
    "sim_config",
    "start_proxy",
    "start_sim",
]

ROOT = Path(__file__).resolve().parents[2]
LITELLM_FOLDER = Path(__file__).resolve().parent / "litellm"
CONFIG_TEMPLATE = LITELLM_FOLDER / "config.yaml"
DEFAULT_PROXY = ROOT / ".venv-litellm" / "bin" / "litellm"
PROXY_ENV = "REELFORGE_LITELLM"
"""Path of a ``litellm`` executable to use instead of ``.venv-litellm/bin/litellm``."""
INSTALL_COMMAND = (
    "python3 -m venv .venv-litellm && "
    ".venv-litellm/bin/pip install --no-deps -r tests/gateways/litellm/requirements.txt"
)

PROXY_PORT = 4000
SIM_PORT = 8100
"""Fixed ports: the namespace is ours alone, so nothing else can hold them."""
MASTER_KEY = "sk-gateway-master-1234"
"""The proxy's key (``general_settings.master_key``): what reelforge sends."""
UPSTREAM_KEY = "sk-upstream-dummy"
"""The key the proxy sends the simulator: the simulator logs every create under it."""

PROXY_START_TIMEOUT = 120.0
SIM_START_TIMEOUT = 30.0
EXPIRES_AFTER = 10_000_000.0
"""Simulated seconds until assets expire: far beyond any test, whatever the time scale."""

REELFORGE = Path(sys.executable).with_name("reelforge")
"""The ``reelforge`` command of the environment running the tests."""

_DROPPED_ENV = {
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "SORA_API_BASE_URL",
    "OPENAI_WEBHOOK_SECRET",
    "REELFORGE_DB_URL",
    "REELFORGE_CRASH_AT",
    "NOTION_TOKEN",
    "NOTION_BATCH_DATABASE_ID",
    "NOTION_DATABASE_ID",
    "NOTION_BASE_URL",
}


def api_key_id(api_key: str) -> str:
    """The short hash the simulator logs a key under (as ``reelforge.sim.log.api_key_id``)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without provider, database or proxy settings, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _DROPPED_ENV and not name.lower().endswith("_proxy")
    }
    env.update(extra)
    return env


# -- prerequisites ----------------------------------------------------------------------------


def find_proxy() -> Path | None:
    """The ``litellm`` executable: ``$REELFORGE_LITELLM``, else ``.venv-litellm/bin/litellm``."""
    configured = os.environ.get(PROXY_ENV)
    candidate = Path(configured).expanduser() if configured else DEFAULT_PROXY
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    return None


def missing_prerequisites() -> str | None:
    """Why the gateway tests cannot run here (with how to enable them), or ``None``."""
    if find_proxy() is None:
        where = os.environ.get(PROXY_ENV) or str(DEFAULT_PROXY.relative_to(ROOT))
        return (
            f"the LiteLLM proxy is not installed (no executable at {where}). Enable these tests "
            f"from the repository root with: {INSTALL_COMMAND}  (or set {PROXY_ENV} to a "
            "litellm executable installed from tests/gateways/litellm/requirements.txt)"
        )
    return missing_tools()


# -- the simulator ----------------------------------------------------------------------------


def sim_config(*, time_scale: float, seed: int, **faults: Any) -> dict[str, Any]:
    """A simulator configuration: seeded, assets that outlive the test, and ``faults``."""
    return {
        "time_scale": time_scale,
        "seed": seed,
        "expires_after": EXPIRES_AFTER,
        "poll_after_min_ms": 0,
        "media_scale": 0.5,
        "faults": faults,
    }


@dataclass
class GatewaySim:
    """A ``reelforge sim`` running in the namespace, behind the proxy, and its ground truth."""

    namespace: Namespace
    service: Service
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> dict[str, list[dict[str, Any]]]:
        return self.namespace.fetch_json(self.url("/_sim/log"))  # type: ignore[no-any-return]

    def creates(self, api_key: str = UPSTREAM_KEY) -> list[dict[str, Any]]:
        """Every job the simulator made (and bills) for ``api_key``."""
        key = api_key_id(api_key)
        return [create for create in self.log()["creates"] if create["api_key_id"] == key]

    def videos(self) -> list[dict[str, Any]]:
        return self.namespace.fetch_json(self.url("/_sim/videos"))  # type: ignore[no-any-return]

    def max_in_flight(self, api_key: str = UPSTREAM_KEY) -> int:
        body = self.namespace.fetch_json(
            self.url(f"/_sim/max_in_flight?api_key_id={api_key_id(api_key)}")
        )
        return int(body["max_in_flight_seen"])


SimFactory = Callable[[dict[str, Any]], GatewaySim]
"""Starts the test's simulator with a configuration (the ``make_sim`` fixture)."""


@contextmanager
def start_sim(
    namespace: Namespace, config: Mapping[str, Any], folder: Path, *, port: int = SIM_PORT
) -> Iterator[GatewaySim]:
    """``reelforge sim --config`` on ``port`` inside the namespace; stopped on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "sim.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    service = namespace.start(
        "reelforge sim",
        [REELFORGE, "sim", "--host", "127.0.0.1", "--port", str(port), "--config", config_path],
        env=clean_env(),
        cwd=folder,
        log_path=folder / "sim.log",
    )
    try:
        namespace.wait_for(f"http://127.0.0.1:{port}/_sim/log", service, SIM_START_TIMEOUT)
        yield GatewaySim(namespace=namespace, service=service, port=port)
    finally:
        service.stop()


def peak_in_flight(
    videos: Iterable[Mapping[str, Any]],
    *,
    held_until: Mapping[str, float] | None = None,
    api_key: str = UPSTREAM_KEY,
) -> int:
    """The most of the key's videos queued or generating at one instant (created_at until
    completed or failed, as the simulator timed them); a video in ``held_until`` (id → time)
    counts until then if that is later (a slot its client must keep)."""
    key = api_key_id(api_key)
    held = held_until or {}
    events: list[tuple[float, int]] = []
    for video in videos:
        if video["api_key_id"] == key:
            end = max(float(video["finished_at"]), held.get(video["id"], 0.0))
            events.append((float(video["created_at"]), 1))
            events.append((end, -1))
    # Ends sort before starts at the same instant: a slot freed at t can be reused at t.
    events.sort()
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


# -- the proxy --------------------------------------------------------------------------------


def proxy_config(sim_port: int = SIM_PORT) -> dict[str, Any]:
    """The pinned proxy configuration with every model routed to the simulator on ``sim_port``;
    fails unless it keeps the gateway's own retries off and the keys these tests use."""
    config: dict[str, Any] = yaml.safe_load(CONFIG_TEMPLATE.read_text(encoding="utf-8"))
    for model in config["model_list"]:
        params = model["litellm_params"]
        params["api_base"] = f"http://127.0.0.1:{sim_port}/v1"
        assert params["api_key"] == UPSTREAM_KEY, model
    assert config["router_settings"]["num_retries"] == 0, "the gateway must not retry"
    assert config["litellm_settings"]["num_retries"] == 0, "the gateway must not retry"
    assert config["general_settings"]["master_key"] == MASTER_KEY
    return config


@contextmanager
def start_proxy(
    namespace: Namespace, executable: Path, folder: Path, *, port: int = PROXY_PORT
) -> Iterator[Service]:
    """The LiteLLM proxy on ``port`` inside the namespace (about 10 s to start); stopped on
    exit."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "litellm.yaml"
    config_path.write_text(yaml.safe_dump(proxy_config(), sort_keys=False), encoding="utf-8")
    service = namespace.start(
        "litellm proxy",
        [executable, "--config", config_path, "--host", "127.0.0.1", "--port", str(port)],
        env=clean_env(LITELLM_LOCAL_MODEL_COST_MAP="True"),
        cwd=folder,
        log_path=folder / "litellm.log",
    )
    try:
        namespace.wait_for(
            f"http://127.0.0.1:{port}/health/liveliness", service, PROXY_START_TIMEOUT
        )
        yield service
    finally:
        service.stop()


# -- reelforge through the gateway ------------------------------------------------------------


@dataclass(frozen=True)
class Gateway:
    """Runs ``reelforge`` commands inside the namespace, pointed at the proxy."""

    namespace: Namespace
    proxy: Service
    port: int = PROXY_PORT

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def env(self) -> dict[str, str]:
        return clean_env(OPENAI_BASE_URL=self.base_url, OPENAI_API_KEY=MASTER_KEY)

    def reelforge(self, *args: str | os.PathLike[str], cwd: Path, timeout: float) -> Completed:
        """``reelforge ARGS`` to its end (it must exit on its own within ``timeout``)."""
        self.check_proxy()
        return self.namespace.run([REELFORGE, *args], env=self.env(), cwd=cwd, timeout=timeout)

    def start(self, *args: str | os.PathLike[str], cwd: Path, log_path: Path) -> Service:
        """``reelforge ARGS`` in the background (for a test that kills it)."""
        self.check_proxy()
        return self.namespace.start(
            f"reelforge {args[0]}", [REELFORGE, *args], env=self.env(), cwd=cwd, log_path=log_path
        )

    def check_proxy(self) -> None:
        assert self.proxy.running(), f"the proxy is gone\n{self.proxy.tail()}"
