"""fal, Replicate, Runway and Vertex through the simulator's faults and a ``kill -9`` in the
create window.

Per provider, a 20-job batch runs as a real ``reelforge run`` process against a ``reelforge
sim`` process that answers 5xx before and after creating jobs, cuts downloads part-way, fails
generations and refuses one prompt on content policy. The first run is killed (SIGKILL) right
after a create was answered and before its id was recorded; the same command then runs again.
Judged by the simulator's ground truth:

* no prompt was created twice;
* every job ends ``done``, ``failed`` with the simulator's reason, or — on fal, Runway and
  Vertex, which cannot list their jobs — ``needs_review`` for a create whose outcome was
  unknown (its prompt created at most once, and never by another job);
* every downloaded video decodes and matches the server's checksum; the thumbnail and
  spritesheet, which neither provider serves, are derived from it and decode;
* the ledger holds exactly the catalog price of the done jobs.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import av
import pytest
from engine_harness import (
    CAP,
    CREATE_TIMEOUT,
    MARKER,
    SimFactory,
    SimProcess,
    api_key_id,
    clean_env,
    sim_config,
)
from PIL import Image

from reelforge.core.capabilities import validate_spec
from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobState
from reelforge.core.paths import database_url
from reelforge.core.pricing import estimate_cost
from reelforge.engine.crash import CrashPoint
from reelforge.sim.fal_wire import CONTENT_POLICY_MESSAGE, INFRA_ERRORS
from reelforge.sim.vertex_wire import SIMULATOR_SERVICE_ACCOUNT
from reelforge.store import JobRow, Store

pytestmark = pytest.mark.slow

JOBS = 20
JOB_TIMEOUT = 40.0
"""``--timeout``: how long a fal create of unknown outcome keeps its in-flight slot."""


@dataclass(frozen=True)
class Provider:
    name: str
    model: str
    seconds: tuple[int, ...]
    key_env: str
    url_env: str
    can_list: bool

    def sim_id(self, remote_id: str) -> str:
        """The simulator's id of a job from reelforge's remote id."""
        return remote_id.rsplit("/", 1)[-1]

    def environment(self, sim: SimProcess, folder: Path) -> dict[str, str]:
        """The settings that point this provider at the simulator with its own key."""
        root = sim.base_url.removesuffix("/v1")
        if self.name != "vertex":
            return {self.key_env: f"key-{self.name}", self.url_env: root}
        # Google's Application Default Credentials: a service-account file whose token_uri is
        # the simulator's token endpoint (the simulator trusts its built-in throwaway account).
        account = folder / "service-account.json"
        account.write_text(
            json.dumps({**SIMULATOR_SERVICE_ACCOUNT, "token_uri": f"{root}/token"}),
            encoding="utf-8",
        )
        return {
            self.key_env: str(account),
            "GOOGLE_CLOUD_PROJECT": "reelforge-faults",
            self.url_env: root,
        }

    @property
    def key_id(self) -> str:
        """Whom the simulator logs this provider's requests under."""
        if self.name == "vertex":
            return api_key_id(SIMULATOR_SERVICE_ACCOUNT["client_email"])
        return api_key_id(f"key-{self.name}")


PROVIDERS = {
    "fal": Provider(
        name="fal",
        model="fal-ai/veo3.1/fast",
        seconds=(4, 6, 8),
        key_env="FAL_KEY",
        url_env="FAL_QUEUE_BASE_URL",
        can_list=False,
    ),
    "runway": Provider(
        name="runway",
        model="veo3.1_fast",
        seconds=(4, 6, 8),
        key_env="RUNWAYML_API_SECRET",
        url_env="RUNWAYML_BASE_URL",
        can_list=False,
    ),
    "vertex": Provider(
        name="vertex",
        model="veo-3.1-fast-generate-001",
        seconds=(4, 6, 8),
        key_env="GOOGLE_APPLICATION_CREDENTIALS",
        url_env="VERTEX_BASE_URL",
        can_list=False,
    ),
    "replicate": Provider(
        name="replicate",
        model="google/veo-3.1-fast",
        seconds=(4, 6, 8),
        key_env="REPLICATE_API_TOKEN",
        url_env="REPLICATE_BASE_URL",
        can_list=True,
    ),
}


def _batch(folder: Path, provider: Provider) -> tuple[Path, dict[str, dict[str, Any]]]:
    specs: dict[str, dict[str, Any]] = {}
    for i in range(JOBS):
        prompt = f"{provider.name} shot {i:02d}: a glass greenhouse at dawn, slow pan"
        if i == 7:
            prompt += f", a {MARKER} overhead"
        specs[f"shot-{i:02d}"] = {
            "prompt": prompt,
            "provider": provider.name,
            "model": provider.model,
            "seconds": provider.seconds[i % len(provider.seconds)],
            "aspect_ratio": "16:9" if i % 2 else "9:16",
            "audio": i % 3 != 0,
        }
    path = folder / "faults.jsonl"
    lines = (json.dumps({"key": key, **spec}) for key, spec in specs.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, specs


def _run(
    provider: Provider,
    sim: SimProcess,
    folder: Path,
    batch: Path,
    *,
    crash_at: str | None = None,
) -> subprocess.CompletedProcess[str]:
    env = clean_env(**provider.environment(sim, folder))
    if crash_at is not None:
        env["REELFORGE_CRASH_AT"] = crash_at
    command = [
        *(sys.executable, "-m", "reelforge", "run", str(batch)),
        *("--db", str(folder / "reelforge.db"), "--out", str(folder / "out")),
        *("--max-in-flight", str(CAP), "--create-timeout", str(CREATE_TIMEOUT)),
        *("--timeout", str(JOB_TIMEOUT), "--json"),
    ]
    return subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        command, env=env, cwd=folder, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.timeout(420)
@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_a_faulty_live_provider_and_a_kill_lose_nothing_and_pay_nothing_twice(
    name: str, make_sim: SimFactory, tmp_path: Path
) -> None:
    provider = PROVIDERS[name]
    config = sim_config(
        time_scale=200,
        seed=23,
        media_scale=0.25,
        error_before_create_rate=0.1,
        error_after_create_rate=0.1,
        moderation_patterns=[rf"\b{MARKER}\b"],
        generation_failure_rate=0.1,
        drop_download_rate=0.3,
        large_asset_bytes=64 * 1024,
    )
    config["replicate"] = {"data_retention": 10_000_000.0}
    sim = make_sim(config)
    batch, specs = _batch(tmp_path, provider)

    killed = _run(
        provider, sim, tmp_path, batch, crash_at=f"{CrashPoint.BEFORE_REMOTE_ID_STORED}:3"
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    finished = _run(provider, sim, tmp_path, batch)
    assert finished.returncode in (0, 1), finished.stderr[-4000:]

    key_id = provider.key_id
    creates = [c for c in sim.log()["creates"] if c["api_key_id"] == key_id]
    twice = {p: n for p, n in Counter(c["prompt"] for c in creates).items() if n > 1}
    assert not twice, f"prompts created more than once: {twice}"
    assert 1 <= sim.max_in_flight(key_id) <= CAP

    jobs = _jobs(tmp_path / "reelforge.db")
    assert set(jobs) == set(specs)
    ends = Counter(job.state for job in jobs.values())
    videos = sim.videos()
    by_prompt = {c["prompt"]: c for c in creates}
    owned = {provider.sim_id(job.remote_id) for job in jobs.values() if job.remote_id}
    for key, job in jobs.items():
        prompt = specs[key]["prompt"]
        if job.state is JobState.NEEDS_REVIEW:
            assert not provider.can_list, f"{key}: Replicate can list, yet {job.error}"
            assert "cannot list" in (job.error or ""), (key, job.error)
            continue
        assert job.state in (JobState.DONE, JobState.FAILED), (key, job.state, job.error)
        assert job.remote_id is not None, (key, job.state, job.error)
        assert by_prompt[prompt]["video_id"] == provider.sim_id(job.remote_id), key
        if job.state is JobState.FAILED:
            video = videos[provider.sim_id(job.remote_id)]
            assert job.category in _expected_categories(provider, prompt), (key, job.category)
            assert video["status"] == "failed", (key, video)
            if provider.name == "fal":  # COMPLETED with an error: failed, in fal's words
                assert job.error in _FAL_MESSAGES, (key, job.error)
        else:
            _check_files(sim, provider, tmp_path / "out" / "faults" / key, job)
    assert jobs["shot-07"].state in (JobState.FAILED, JobState.NEEDS_REVIEW)
    # A create nobody owns may only be the one of a job a person must review.
    reviewed = {specs[k]["prompt"] for k, j in jobs.items() if j.state is JobState.NEEDS_REVIEW}
    for create in creates:
        if create["video_id"] not in owned:
            assert create["prompt"] in reviewed, f"an unowned create: {create}"
    assert ends[JobState.DONE] >= JOBS // 2, ends
    if provider.can_list:
        assert ends[JobState.NEEDS_REVIEW] == 0, ends
    else:
        assert ends[JobState.NEEDS_REVIEW] >= 1, ends  # at least the job killed mid-create

    _check_requests(sim, provider)

    _check_money(tmp_path / "reelforge.db", provider, jobs)


def _check_requests(sim: SimProcess, provider: Provider) -> None:
    """The create faults happened (so the checks met them), and no status, result or cancel
    went to the long endpoint path (fal serves them at owner/app only)."""
    requests = sim.log()["requests"]
    faults = Counter(request["fault"] for request in requests)
    assert faults["error_before_create"] + faults["error_after_create"] > 0, faults
    long_path = f"/{provider.model}/requests/"
    assert not [r["path"] for r in requests if r["path"].startswith(long_path)]


def _check_money(db: Path, provider: Provider, jobs: dict[str, JobRow]) -> None:
    """The ledger holds exactly the catalog price of the done jobs, all on ``provider``."""
    done = [job for job in jobs.values() if job.state is JobState.DONE]
    price = sum((estimate_cost(validate_spec(job.spec)) or Decimal(0) for job in done), Decimal(0))
    store = Store(database_url(db))
    try:
        summary = store.batch_summary("faults")
        by_provider = store.cost_report(by="provider")
    finally:
        store.close()
    assert summary.actual == price, (summary.actual, price)
    assert [line.group for line in by_provider] == [provider.name]
    assert by_provider[0].actual == price


_FAL_MESSAGES = {CONTENT_POLICY_MESSAGE, *(message for _, message in INFRA_ERRORS.values())}
"""What the simulator's fal says about a failed request (its ``error``)."""


def _expected_categories(provider: Provider, prompt: str) -> set[ErrorCategory]:
    """The categories a failure may have: the simulator decided content policy for the marked
    prompt; a generation failure otherwise (on fal, a request timeout is one of its infra
    errors)."""
    if MARKER in prompt:
        return {ErrorCategory.CONTENT_POLICY}
    if provider.name == "fal":
        return {ErrorCategory.GENERATION_FAILED, ErrorCategory.TIMEOUT}
    return {ErrorCategory.GENERATION_FAILED}


def _jobs(db: Path) -> dict[str, JobRow]:
    store = Store(database_url(db))
    try:
        return {job.key: job for job in store.jobs("faults")}
    finally:
        store.close()


def _check_files(sim: SimProcess, provider: Provider, folder: Path, job: JobRow) -> None:
    assert job.remote_id is not None
    video = (folder / "video.mp4").read_bytes()
    digest, size = sim.sha256(provider.sim_id(job.remote_id), "video")
    assert len(video) == size, (job.key, len(video), size)
    assert hashlib.sha256(video).hexdigest() == digest, job.key
    with av.open(str(folder / "video.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0, job.key
    for name in ("thumbnail.webp", "spritesheet.jpg"):
        with Image.open(folder / name) as image:
            image.load()
            assert image.width > 0, (job.key, name)
    document = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    assert document["state"] == "done"
    assert document["spec"]["provider"] == provider.name
    assert document["assets"]["video"]["derived"] is False
    assert document["assets"]["thumbnail"]["derived"] is True
    assert document["assets"]["spritesheet"]["derived"] is True
