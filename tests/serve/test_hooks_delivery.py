"""Webhooks end to end: ``reelforge sim`` sends its own signed webhooks to the served
application (``build_app`` on a loopback port), while a real ``reelforge run`` process, told
the public URL, runs a batch on the same database.

With webhooks on, the engine polls only as a slow safety net; each job still ends ``done``
within seconds, settled by its webhook without a single status request (Replicate's download
reads the prediction once, for its file's URL). With the public URL set but nothing listening
there, the safety net alone finishes the batch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.engine.engine_harness import SimProcess, api_key_id, clean_env, sim_config, start_sim

from reelforge._serve import ThreadedServer
from reelforge.core.config import database_url
from reelforge.core.models import JobState
from reelforge.serve import ServeState, build_app
from reelforge.sim.fal_webhooks import JWKS_PATH
from reelforge.store import EventKind, EventRow, JobRow, Store

pytestmark = pytest.mark.slow

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
JOBS = 3
WITHIN = 30.0
"""Seconds the whole run may take with webhooks: far below one safety-net interval (150 s)
after the first check (the jobs take about 2 s on the simulator)."""


@dataclass(frozen=True)
class Scheme:
    name: str
    model: str
    key_env: str
    url_env: str

    def env(self, sim: SimProcess) -> dict[str, str]:
        root = sim.base_url.removesuffix("/v1")
        if self.name == "openai":
            return {self.key_env: "key-openai", self.url_env: sim.base_url}
        return {self.key_env: f"key-{self.name}", self.url_env: root}

    def is_status_request(self, request: dict[str, Any]) -> bool:
        path = request["path"]
        if request["method"] != "GET" or request["api_key_id"] != api_key_id(f"key-{self.name}"):
            return False
        if self.name == "openai":
            return path.startswith("/v1/videos/") and path.count("/") == 3
        if self.name == "fal":
            return path.endswith("/status")
        return path.startswith("/v1/predictions/")


SCHEMES = {
    "openai": Scheme("openai", "sora-2", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "fal": Scheme("fal", "fal-ai/veo3.1/fast", "FAL_KEY", "FAL_QUEUE_BASE_URL"),
    "replicate": Scheme(
        "replicate", "google/veo-3.1-fast", "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL"
    ),
}


def _batch(folder: Path, scheme: Scheme) -> Path:
    lines = []
    for i in range(JOBS):
        spec: dict[str, Any] = {
            "key": f"shot-{i}",
            "prompt": f"{scheme.name} shot {i}: a paper boat on a rainy street",
            "provider": scheme.name,
            "model": scheme.model,
            "seconds": 4,
        }
        if scheme.name != "openai":
            spec["aspect_ratio"] = "16:9"
        lines.append(json.dumps(spec))
    path = folder / "hooks.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(folder: Path, batch: Path, env: dict[str, str], *, timeout: float) -> float:
    """``reelforge run`` to its end; its wall time."""
    command = [
        *(sys.executable, "-m", "reelforge", "run", str(batch)),
        *("--db", str(folder / "reelforge.db"), "--out", str(folder / "out")),
        *("--timeout", str(timeout), "--json"),
    ]
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        command, env=env, cwd=folder, capture_output=True, text=True, timeout=100, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return time.monotonic() - started


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(database_url(tmp_path / "reelforge.db"))
    store.migrate()
    yield store
    store.close()


def _served(store: Store, public_url: str | None = None) -> tuple[ThreadedServer, ServeState]:
    state = ServeState(store=store, db_url=store.url, public_url=public_url)
    return ThreadedServer(build_app(state), label="reelforge serve"), state


def _state_at(history: list[EventRow], state: JobState) -> float:
    """When the job entered ``state``."""
    return next(e.at for e in history if e.kind is EventKind.STATE and e.state is state)


def _jobs(store: Store) -> list[JobRow]:
    return store.jobs("hooks")


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_the_simulators_webhooks_end_each_job_long_before_a_safety_poll(
    name: str, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheme = SCHEMES[name]
    config = sim_config(time_scale=40, seed=7)
    stack: list[Any] = []
    try:
        if name == "openai":
            monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
            server, state = _served(store)
            stack.append(server.start())
            config["webhooks"] = {
                "urls": [f"{server.url}/hooks/openai"],
                "secret": SECRET,
                "interval": 0.05,
            }
            sim_cm = start_sim(config, tmp_path / "sim")
            sim = sim_cm.__enter__()
            stack.append(sim_cm)
        else:
            sim_cm = start_sim(config, tmp_path / "sim")
            sim = sim_cm.__enter__()
            stack.append(sim_cm)
            root = sim.base_url.removesuffix("/v1")
            monkeypatch.setenv("FAL_WEBHOOK_JWKS_URL", f"{root}{JWKS_PATH}")
            monkeypatch.setenv("REPLICATE_API_TOKEN", f"key-{name}")
            monkeypatch.setenv("REPLICATE_BASE_URL", root)
            server, state = _served(store)
            stack.append(server.start())
        env = clean_env(
            **scheme.env(sim),
            REELFORGE_PUBLIC_URL=server.url,
            OPENAI_WEBHOOK_SECRET=SECRET,
        )

        took = _run(tmp_path, _batch(tmp_path, scheme), env, timeout=600)

        jobs = _jobs(store)
        assert [job.state for job in jobs] == [JobState.DONE] * JOBS, [
            (job.state, job.error) for job in jobs
        ]
        assert took < WITHIN
        log = sim.log()
        delivered = [w for w in log["webhooks"] if w["status_code"] == 200]
        assert len(delivered) >= JOBS, log["webhooks"]
        for job in jobs:
            history = store.history(job.id)
            notes = [
                e for e in history if e.kind is EventKind.NOTE and e.data.get("webhook") == name
            ]
            assert len(notes) == 1, [e.data for e in history]
            completed = _state_at(history, JobState.COMPLETED)
            assert completed - notes[0].at < 5.0
            assert _state_at(history, JobState.DONE) >= completed
            # Never asked about: the status its webhook carried settled it (no safety-net
            # poll). Replicate's download reads the prediction once, for its file's URL.
            assert job.remote_id is not None
            sim_id = job.remote_id.rsplit("/", 1)[-1]
            asked = [
                r
                for r in log["requests"]
                if scheme.is_status_request(r) and f"/{sim_id}" in r["path"]
            ]
            assert [r for r in asked if r["at"] <= completed] == [], asked
            assert len(asked) == (1 if name == "replicate" else 0), asked
            for event in history:
                assert SECRET not in repr(dict(event.data or {}))
        state.close()
    finally:
        for entry in reversed(stack):
            if isinstance(entry, ThreadedServer):
                entry.stop()
            else:
                entry.__exit__(None, None, None)


def test_a_public_url_with_no_receiver_still_finishes_by_the_safety_net(
    store: Store, tmp_path: Path
) -> None:
    scheme = SCHEMES["fal"]
    with start_sim(sim_config(time_scale=40, seed=8), tmp_path / "sim") as sim:
        # A port nobody listens on: fal's webhooks to it fail and are retried in vain.
        server, _ = _served(store)
        nowhere = server.url
        server.stop()
        env = clean_env(**scheme.env(sim), REELFORGE_PUBLIC_URL=nowhere)

        # --timeout 24: the safety net is a quarter of it, 6 s.
        took = _run(tmp_path, _batch(tmp_path, scheme), env, timeout=24)

        jobs = _jobs(store)
        assert [job.state for job in jobs] == [JobState.DONE] * JOBS, [
            (job.state, job.error) for job in jobs
        ]
        log = sim.log()
        assert any(w["status_code"] is None for w in log["webhooks"])  # nothing answered
        status = Counter(r["path"] for r in log["requests"] if scheme.is_status_request(r))
        # Checked by the safety net only: no more often than every 6 s (±10 %) per job.
        assert sum(status.values()) <= JOBS * (1 + took / 5.4), status
        assert took >= 5.0
