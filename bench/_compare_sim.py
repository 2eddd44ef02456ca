"""A fresh ``reelforge sim`` in its own process, and the ground truth read back from it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

_READY_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, kw_only=True, slots=True)
class SimTruth:
    """What the simulator recorded: its log, every job's timing and the in-flight peak."""

    creates: list[dict[str, Any]]
    requests: list[dict[str, Any]]
    videos: list[dict[str, Any]]
    """``/_sim/videos``: each job's ``created_at``, ``started_at``, ``finished_at`` and status."""
    max_in_flight_seen: int


class SimProcess:
    """``python -m reelforge sim --config FILE`` on a free port, stopped on exit."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        self.port = free_port()
        self._config_path = workdir / "sim.json"
        self._config_path.write_text(json.dumps(config, indent=1), encoding="utf-8")
        self._log_path = workdir / "sim.stderr"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def root(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def base_url(self) -> str:
        """The API base URL for clients: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.root}/v1"

    def start(self) -> SimProcess:
        """Start the server and return once ``/_sim/log`` answers."""
        command = [sys.executable, "-m", "reelforge", "sim", "--port", str(self.port)]
        command += ["--config", str(self._config_path)]
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                httpx.get(f"{self.root}/_sim/log", timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        output = self._log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the simulator did not start on {self.root}:\n{output}")

    def truth(self) -> SimTruth:
        """Read the log, the jobs and the in-flight peak back from the running server."""
        with httpx.Client(base_url=self.root, timeout=60.0) as client:
            log = client.get("/_sim/log").raise_for_status().json()
            videos = client.get("/_sim/videos").raise_for_status().json()
            peak = client.get("/_sim/max_in_flight").raise_for_status().json()
        return SimTruth(
            creates=log["creates"],
            requests=log["requests"],
            videos=videos,
            max_in_flight_seen=int(peak["max_in_flight_seen"]),
        )

    def stop(self) -> None:
        """Terminate the server and reap it."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
