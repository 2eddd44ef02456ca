"""Helpers for the engine's acceptance tests: a real simulator process, real ``reelforge run``
processes, and one check of every invariant the durable engine promises.

The tests drive the product the way a user does (``python -m reelforge run FILE --base-url …``
against ``reelforge sim`` on a loopback port) and judge it by ground truth: the simulator's log
of creates and its own checksums, the files on disk, and the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from reelforge.core.config import database_url
from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState
from reelforge.store import AssetRow, BatchSummary, CostLine, EventKind, JobRow, Store

__all__ = [
    "CAP",
    "PRICE_PER_SECOND",
    "BatchFile",
    "Run",
    "SimFactory",
    "SimProcess",
    "Workspace",
    "api_key_id",
    "check_batch",
    "read_jobs",
    "read_notes",
    "sim_config",
    "start_sim",
    "write_batch",
]

CAP = 4
"""Videos in flight allowed on the account: the engine's cap and the simulator's limit."""
PRICE_PER_SECOND = Decimal("0.10")
"""sora-2 at 720x1280 or 1280x720."""
MARKER = "zeppelin"
"""A word the simulator's moderation blocks; put in every 20th prompt of a batch."""

_SECONDS = (4, 8, 12)
_SIZES = ("720x1280", "1280x720")
_SUBJECTS = (
    "a red kite over desert dunes",
    "a paper boat on a rainy street",
    "a lighthouse in a winter storm",
    "a fox crossing a frozen lake",
    "steam rising from a noodle bar",
    "a tram climbing a hill at dusk",
    "bees over a lavender field",
)
_VARIANT_FILES = {
    "video": "video.mp4",
    "thumbnail": "thumbnail.webp",
    "spritesheet": "spritesheet.jpg",
}

SIM_START_TIMEOUT = 30.0

CREATE_TIMEOUT = 10.0
"""``--create-timeout`` of every run: short, so a lost create's resend window (with the 30 s
listing lag) fits in a test."""

EXPIRES_AFTER = 10_000_000.0
"""Simulated seconds until assets expire: far beyond any test, whatever the time scale."""


def sim_config(
    *, time_scale: float, seed: int, media_scale: float = 0.5, **faults: Any
) -> dict[str, Any]:
    """A simulator configuration: fast, seeded, assets that outlive the test, and ``faults``.

    The server's poll hint may go down to nothing, so the engine's own floor decides.
    """
    return {
        "time_scale": time_scale,
        "seed": seed,
        "expires_after": EXPIRES_AFTER,
        "poll_after_min_ms": 0,
        "media_scale": media_scale,
        "faults": faults,
    }


def api_key_id(api_key: str) -> str:
    """The short hash the simulator logs a key under (as ``reelforge.sim.log.api_key_id``)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the simulator ----------------------------------------------------------------------------


@dataclass
class SimProcess:
    """A running ``reelforge sim`` and read access to its ground truth."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    client: httpx.Client = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log(self) -> dict[str, list[dict[str, Any]]]:
        return self._get("/_sim/log")  # type: ignore[no-any-return]

    def creates(self, key_id: str) -> list[dict[str, Any]]:
        """Every create the server made for the key (billed, whatever the client saw)."""
        return [c for c in self.log()["creates"] if c["api_key_id"] == key_id]

    def videos(self) -> dict[str, dict[str, Any]]:
        return {video["id"]: video for video in self._get("/_sim/videos")}

    def sha256(self, video_id: str, variant: str) -> tuple[str, int]:
        body = self._get(f"/_sim/videos/{video_id}/sha256", variant=variant)
        return body["sha256"], body["size"]

    def max_in_flight(self, key_id: str) -> int:
        return int(self._get("/_sim/max_in_flight", api_key_id=key_id)["max_in_flight_seen"])

    def _get(self, path: str, **params: str) -> Any:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


SimFactory = Callable[[dict[str, Any]], SimProcess]
"""Starts a simulator with a configuration (the ``make_sim`` fixture)."""


@contextmanager
def start_sim(config: Mapping[str, Any], folder: Path) -> Iterator[SimProcess]:
    """Start ``reelforge sim`` with ``config`` on a free loopback port; stop it on exit.

    Returns once ``/_sim/log`` answers. A port taken between choosing and binding it (another
    process on the machine) is retried with a new one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "sim.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    for attempt in range(3):
        port = _free_port()
        log_path = folder / f"sim-{attempt}.log"
        with log_path.open("wb") as sink:
            process = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed arguments
                [
                    *(sys.executable, "-m", "reelforge", "sim", "--host", "127.0.0.1"),
                    *("--port", str(port), "--config", str(config_path)),
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=clean_env(),
            )
        sim = SimProcess(
            process=process,
            port=port,
            log_path=log_path,
            client=httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0),
        )
        try:
            if _wait_until_up(sim):
                yield sim
                return
        finally:
            sim.stop()
    raise AssertionError(f"the simulator did not start:\n{log_path.read_text(errors='replace')}")


def _wait_until_up(sim: SimProcess) -> bool:
    deadline = time.monotonic() + SIM_START_TIMEOUT
    while time.monotonic() < deadline:
        if sim.process.poll() is not None:
            return False
        try:
            if sim.client.get("/_sim/log").status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without provider, database or crash settings, plus ``extra``."""
    dropped = {
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "SORA_API_BASE_URL",
        "OPENAI_WEBHOOK_SECRET",
        "REELFORGE_DB_URL",
        "REELFORGE_CRASH_AT",
        "REELFORGE_PUBLIC_URL",
        "FAL_KEY",
        "FAL_KEY_ID",
        "FAL_KEY_SECRET",
        "FAL_QUEUE_BASE_URL",
        "REPLICATE_API_TOKEN",
        "REPLICATE_BASE_URL",
        "RUNWAYML_API_SECRET",
        "RUNWAYML_BASE_URL",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "VERTEX_BASE_URL",
    }
    env = {name: value for name, value in os.environ.items() if name not in dropped}
    env.update(extra)
    return env


# -- batches ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchFile:
    """A batch file written for a test, and what each of its jobs was."""

    path: Path
    name: str
    specs: Mapping[str, Mapping[str, Any]]
    """Job key → its line in the file (prompt, model, seconds, size)."""

    @property
    def moderated(self) -> set[str]:
        """Keys whose prompt carries the moderation marker."""
        return {key for key, spec in self.specs.items() if MARKER in spec["prompt"]}


def write_batch(
    folder: Path, name: str, count: int, *, tag: str = "", marker_every: int | None = None
) -> BatchFile:
    """A JSONL batch of ``count`` sora-2 jobs with distinct prompts, mixed lengths and sizes."""
    specs: dict[str, dict[str, Any]] = {}
    for i in range(count):
        prompt = f"Shot {i:03d}{tag}: {_SUBJECTS[i % len(_SUBJECTS)]}, slow dolly in"
        if marker_every is not None and i % marker_every == marker_every - 1:
            prompt += f", a {MARKER} overhead"
        specs[f"shot-{i:03d}"] = {
            "prompt": prompt,
            "model": "sora-2",
            "seconds": _SECONDS[i % len(_SECONDS)],
            "size": _SIZES[(i // len(_SECONDS)) % len(_SIZES)],
        }
    path = folder / f"{name}.jsonl"
    path.write_text(
        "".join(json.dumps({"key": key, **spec}) + "\n" for key, spec in specs.items()),
        encoding="utf-8",
    )
    return BatchFile(path=path, name=name, specs=specs)


# -- running reelforge ------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One finished ``reelforge run`` process."""

    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"exit {self.returncode}\n--- stderr ---\n{self.stderr[-4000:]}"
            f"\n--- stdout ---\n{self.stdout[-4000:]}"
        )

    def result(self) -> dict[str, Any]:
        """The ``--json`` result."""
        return json.loads(self.stdout)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Workspace:
    """Where one test's runs keep their database and videos, and the key they use."""

    folder: Path
    sim: SimProcess
    api_key: str = "sk-test"

    @property
    def db(self) -> Path:
        return self.folder / "reelforge.db"

    @property
    def out(self) -> Path:
        return self.folder / "out"

    @property
    def key_id(self) -> str:
        return api_key_id(self.api_key)

    def command(self, batch: BatchFile) -> list[str]:
        return [
            sys.executable,
            "-m",
            "reelforge",
            "run",
            str(batch.path),
            "--base-url",
            self.sim.base_url,
            "--db",
            str(self.db),
            "--out",
            str(self.out),
            "--max-in-flight",
            str(CAP),
            # A create whose answer was lost is resent 10 s + the listing lag (30 s) after its
            # intent, not the default 120 s: the crash tests wait for that window.
            "--create-timeout",
            str(CREATE_TIMEOUT),
            "--json",
        ]

    def env(self, crash_at: str | None = None) -> dict[str, str]:
        extra = {"OPENAI_API_KEY": self.api_key}
        if crash_at is not None:
            extra["REELFORGE_CRASH_AT"] = crash_at
        return clean_env(**extra)

    def run(self, batch: BatchFile, *, crash_at: str | None = None, timeout: float = 180) -> Run:
        """Run ``reelforge run`` to its end (or its crash)."""
        done = subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
            self.command(batch),
            env=self.env(crash_at),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr)

    def start(self, batch: BatchFile) -> subprocess.Popen[bytes]:
        """Start ``reelforge run`` in the background (for tests that kill it)."""
        return subprocess.Popen(  # noqa: S603  # our own interpreter, fixed arguments
            self.command(batch),
            env=self.env(),
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def read_notes(workspace: Workspace, batch: BatchFile) -> dict[str, list[str]]:
    """The notes in each job's history (what the engine decided and why), by key."""
    store = Store(database_url(workspace.db))
    try:
        return {
            job.key: [
                str(event.data.get("message"))
                for event in store.history(job.id)
                if event.kind is EventKind.NOTE
            ]
            for job in store.jobs(batch.name)
        }
    finally:
        store.close()


def read_jobs(workspace: Workspace, batch: BatchFile) -> dict[str, JobRow]:
    """The batch's jobs as the store has them, by key."""
    store = Store(database_url(workspace.db))
    try:
        return {job.key: job for job in store.jobs(batch.name)}
    finally:
        store.close()


# -- the invariants ---------------------------------------------------------------------------


_FAILURE_CODES = {
    ErrorCategory.CONTENT_POLICY: "moderation_blocked",
    ErrorCategory.GENERATION_FAILED: "video_generation_failed",
}


def check_batch(
    workspace: Workspace,
    batch: BatchFile,
    *,
    allow_failed: bool = False,
) -> dict[str, JobRow]:
    """Assert every promise of the durable engine for a finished batch; return its jobs.

    * every job ended ``done`` (or, with ``allow_failed``, ``failed`` for the reason the
      simulator decided: ``content_policy`` for a moderated prompt, ``generation_failed`` for
      a job the simulator failed);
    * the server created each prompt at most once, every job that was created is the job's own
      (no create is left unowned), and the key never had more than ``CAP`` videos in flight;
    * every ``done`` job's three files are on disk with the server's size and SHA-256, recorded
      in the store and in ``job.json``; no ``.part`` file is left anywhere;
    * the ledger holds exactly the price of the completed videos and nothing is still reserved.
    """
    store = Store(database_url(workspace.db))
    try:
        jobs = {job.key: job for job in store.jobs(batch.name)}
        summary = store.batch_summary(batch.name)
        report = store.cost_report(batch.name)
        assets = {key: store.assets(job.id) for key, job in jobs.items()}
    finally:
        store.close()
    assert set(jobs) == set(batch.specs), "the store's jobs are not the batch's"
    assert summary.total == len(batch.specs)
    check_outcome(workspace, batch, jobs, summary, report, assets, allow_failed=allow_failed)
    assert sum(line.jobs for line in report) == len(batch.specs)
    for key, job in jobs.items():
        price = PRICE_PER_SECOND * job.seconds if job.state is JobState.DONE else Decimal(0)
        assert (job.actual_cost or Decimal(0)) == price, (key, job.actual_cost, price)
    return jobs


def check_outcome(  # what a finished batch's store holds, read by the caller
    workspace: Workspace,
    batch: BatchFile,
    jobs: Mapping[str, JobRow],
    summary: BatchSummary,
    report: Sequence[CostLine],
    assets: Mapping[str, Sequence[AssetRow]],
    *,
    allow_failed: bool,
) -> None:
    """The promises :func:`check_batch` checks, on what the caller read from the store: ends,
    creates, files (no ``.part`` left) and the ledger (the completed videos' price, settled;
    nothing reserved any more)."""
    _check_ends(workspace, batch, jobs, allow_failed=allow_failed)
    _check_created_once(workspace, batch, jobs)
    parts = sorted(str(p.relative_to(workspace.out)) for p in workspace.out.rglob("*.part"))
    assert not parts, f"partial downloads left behind: {parts}"
    for key, job in jobs.items():
        if job.state is JobState.DONE:
            folder = workspace.out / batch.name / key
            _check_files(workspace, folder, job, assets[key], batch.specs[key])
    done = [job for job in jobs.values() if job.state is JobState.DONE]
    expected_cost = sum((PRICE_PER_SECOND * job.seconds for job in done), Decimal(0))
    assert summary.actual == expected_cost, (summary.actual, expected_cost)
    assert summary.reserved == 0, summary.reserved
    assert sum((line.actual for line in report), Decimal(0)) == expected_cost


def _check_ends(
    workspace: Workspace, batch: BatchFile, jobs: Mapping[str, JobRow], *, allow_failed: bool
) -> None:
    """Every job is done, or failed for the reason the simulator decided."""
    allowed = {JobState.DONE, JobState.FAILED} if allow_failed else {JobState.DONE}
    stray = {
        key: (job.state.value, job.category, job.error)
        for key, job in jobs.items()
        if job.state not in allowed
    }
    assert not stray, f"jobs not done{' or failed' if allow_failed else ''}: {stray}"
    videos = workspace.sim.videos()
    for key, job in jobs.items():
        if job.state is not JobState.FAILED:
            assert job.category is None, (key, job.category, job.error)
            continue
        assert job.remote_id is not None, f"{key} failed without being created: {job.error}"
        expected = (
            ErrorCategory.CONTENT_POLICY
            if key in batch.moderated
            else ErrorCategory.GENERATION_FAILED
        )
        assert job.category is expected, (key, job.category, job.error)
        assert videos[job.remote_id]["error_code"] == _FAILURE_CODES[expected], key
    for key in batch.moderated:
        assert jobs[key].state is JobState.FAILED, f"{key} has a moderated prompt but is done"


def _check_created_once(workspace: Workspace, batch: BatchFile, jobs: Mapping[str, JobRow]) -> None:
    """Each prompt created at most once, each create owned by its job, at most CAP in flight."""
    creates = workspace.sim.creates(workspace.key_id)
    per_prompt = Counter(create["prompt"] for create in creates)
    twice = {prompt: n for prompt, n in per_prompt.items() if n > 1}
    assert not twice, f"prompts created more than once: {twice}"
    by_video = {create["video_id"]: create for create in creates}
    owners = {job.remote_id: key for key, job in jobs.items() if job.remote_id is not None}
    unowned = sorted(set(by_video) - set(owners))
    assert not unowned, f"videos created on the server that no job owns: {unowned}"
    for video_id, key in owners.items():
        spec = batch.specs[key]
        create = by_video.get(video_id)
        assert create is not None, f"{key}: remote id {video_id} was never created for this key"
        assert (create["prompt"], create["seconds"], create["size"]) == (
            spec["prompt"],
            str(spec["seconds"]),
            spec["size"],
        ), key
    seen = workspace.sim.max_in_flight(workspace.key_id)
    assert 1 <= seen <= CAP, f"{seen} videos were in flight at once (cap {CAP})"
    # Where the simulator enforces the cap itself, the engine must never have tried to pass it:
    # it frees a slot only after the server has finished that job.
    refused = [
        request
        for request in workspace.sim.log()["requests"]
        if request["api_key_id"] == workspace.key_id and request["fault"] == "max_in_flight"
    ]
    assert not refused, f"{len(refused)} creates refused for going over the cap"


def _check_files(
    workspace: Workspace,
    folder: Path,
    job: JobRow,
    assets: Sequence[Any],
    spec: Mapping[str, Any],
) -> None:
    assert job.remote_id is not None
    recorded = {asset.variant.value: asset for asset in assets}
    assert set(recorded) == set(_VARIANT_FILES), (job.key, sorted(recorded))
    listing = sorted(path.name for path in folder.iterdir())
    assert listing == sorted([*_VARIANT_FILES.values(), "job.json"]), (job.key, listing)
    document = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    assert document["state"] == JobState.DONE.value, job.key
    assert document["job_id"] == job.id
    assert document["key"] == job.key
    assert document["remote_id"] == job.remote_id
    assert document["spec"]["prompt"] == spec["prompt"]
    assert Decimal(document["cost"]["actual"]) == PRICE_PER_SECOND * int(spec["seconds"])
    for variant, name in _VARIANT_FILES.items():
        path = folder / name
        digest, size = workspace.sim.sha256(job.remote_id, variant)
        data = path.read_bytes()
        assert len(data) == size, (job.key, variant, len(data), size)
        assert hashlib.sha256(data).hexdigest() == digest, (job.key, variant)
        assert recorded[variant].sha256 == digest, (job.key, variant)
        assert recorded[variant].bytes == size, (job.key, variant)
        assert document["assets"][variant] == {
            "file": name,
            "bytes": size,
            "sha256": digest,
            "derived": False,
        }
