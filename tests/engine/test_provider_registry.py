"""A provider defined only here, registered through the registry, runs batches through both
:class:`Engine` and :class:`Forge` with no change to the engine: a job's ``provider`` routes it.

The in-memory adapter echoes the idempotency token it is given, so it also shows that tokens
reach the adapter and come back on the statuses it reports.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from reelforge import Forge, InvalidSpecError, JobSpec
from reelforge.batch import Batch, load_batch
from reelforge.cli import app
from reelforge.core.capabilities import ModelCapabilities, register_models
from reelforge.core.clock import Clock
from reelforge.core.models import DownloadResult, JobState, RemoteState, RemoteStatus, Variant
from reelforge.engine import Engine
from reelforge.providers import Endpoint, Provider, Providers, register, unregister
from reelforge.sim.media import MediaJob, render_media
from reelforge.store import Store

pytestmark = pytest.mark.timeout(120)

_CAPS = ModelCapabilities(model="tiny-1", seconds=(2, 4), sizes=("640x360",), default_seconds=2)


class MemoryProvider:
    """Jobs in a dict: each completes on its second status check."""

    name = "memory"
    base_url = "memory://local"

    def __init__(self, media: dict[Variant, Path]) -> None:
        self.media = media
        self.jobs: dict[str, RemoteStatus] = {}
        self.checks: dict[str, int] = {}
        self.tokens: list[str | None] = []

    def capabilities(self, model: str) -> ModelCapabilities:
        return _CAPS

    async def submit(
        self, spec: JobSpec, *, token: str | None = None, cancel_after: float | None = None
    ) -> RemoteStatus:
        self.tokens.append(token)
        remote_id = f"mem-{len(self.jobs) + 1}"
        status = RemoteStatus(
            remote_id=remote_id,
            state=RemoteState.QUEUED,
            model=spec.model,
            seconds=spec.seconds,
            size=spec.size,
            prompt=spec.prompt,
            token=token,
            poll_after=0.05,
        )
        self.jobs[remote_id] = status
        return status

    async def fetch(self, remote_id: str) -> RemoteStatus:
        self.checks[remote_id] = self.checks.get(remote_id, 0) + 1
        status = self.jobs[remote_id]
        if self.checks[remote_id] >= 2:
            status = RemoteStatus(
                remote_id=remote_id,
                state=RemoteState.COMPLETED,
                progress=100,
                model=status.model,
                prompt=status.prompt,
                token=status.token,
            )
            self.jobs[remote_id] = status
        return status

    async def list_recent(self, *, since: float | None = None) -> AsyncIterator[RemoteStatus]:
        for status in list(self.jobs.values()):
            yield status

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
        return await asyncio.to_thread(_copy, self.media[variant], variant, dest)

    async def delete(self, remote_id: str) -> None:
        self.jobs.pop(remote_id, None)


def _copy(source: Path, variant: Variant, dest: Path) -> DownloadResult:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    data = dest.read_bytes()
    return DownloadResult(
        variant=variant, path=dest, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )


class MemoryEntry:
    name = "memory"
    credentials_hint = "nothing to set: it lives in this process"

    def __init__(self, provider: MemoryProvider) -> None:
        self.provider = provider

    def configured(self) -> Endpoint | None:
        return Endpoint(provider=self.name, base_url=MemoryProvider.base_url)

    def simulated(self, simulator_url: str) -> Endpoint | None:
        return None

    def capabilities(self, model: str) -> ModelCapabilities:
        return _CAPS

    def build(self, endpoint: Endpoint, *, client: httpx.AsyncClient, clock: Clock) -> Provider:
        return self.provider


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[Variant, Path]:
    job = MediaJob(video_id="v", prompt="p", model="sora-2", seconds=1, size="1280x720", seed=3)
    return render_media(job, tmp_path_factory.mktemp("media"), fps=4, media_scale=0.1)


@pytest.fixture
def memory(media: dict[Variant, Path]) -> Iterator[MemoryProvider]:
    provider = MemoryProvider(media)
    register(MemoryEntry(provider))
    register_models("memory", {"tiny-1": _CAPS})
    try:
        yield provider
    finally:
        unregister("memory")
        register_models("memory", {})


def _batch(tmp_path: Path, count: int, provider: str = "memory") -> Batch:
    lines = [
        json.dumps({"prompt": f"a paper boat number {i}", "key": f"boat{i}", "provider": provider})
        for i in range(count)
    ]
    source = tmp_path / "boats.jsonl"
    source.write_text("\n".join(lines) + "\n")
    return load_batch(source)


def _check_done(out: Path, batch: Batch, memory: MemoryProvider) -> None:
    assert len(memory.jobs) == len(batch.jobs)  # one create per job
    for job in batch.jobs:
        folder = out / batch.name / job.key
        record = json.loads((folder / "job.json").read_text())
        assert record["state"] == "done"
        assert record["spec"]["provider"] == "memory"
        assert record["remote_id"] in memory.jobs
        for variant in Variant:
            assert (folder / variant.filename).stat().st_size > 0


async def test_a_provider_registered_by_a_test_runs_a_batch_on_the_engine(
    tmp_path: Path, memory: MemoryProvider, db_url: str
) -> None:
    batch = _batch(tmp_path, 10)
    providers = Providers({"memory": Endpoint(provider="memory", base_url="memory://local")})
    async with Engine(db_url=db_url, providers=providers, max_in_flight=3) as engine:
        await engine.submit(batch, out=tmp_path / "out")
        summary = await engine.wait(batch.name)
        jobs = engine.store.jobs(batch.name)

    assert summary.counts[JobState.DONE] == 10
    assert {job.account for job in jobs} == {providers.account("memory")}
    assert all(job.provider == "memory" for job in jobs)
    _check_done(tmp_path / "out", batch, memory)
    # The create carried each attempt's token, and the provider's statuses echo it.
    assert sorted(t for t in memory.tokens if t) == sorted(j.intent_token or "" for j in jobs)


async def test_the_same_provider_runs_a_batch_through_forge(
    tmp_path: Path, memory: MemoryProvider, db_url: str
) -> None:
    batch = _batch(tmp_path, 10)
    async with Forge(db=db_url, out=tmp_path / "out") as forge:
        result = await forge.run(batch)

    assert result.summary.counts[JobState.DONE] == 10
    _check_done(tmp_path / "out", batch, memory)


async def test_an_unknown_provider_is_refused_before_anything_is_recorded(
    tmp_path: Path, memory: MemoryProvider
) -> None:
    batch = _batch(tmp_path, 2, provider="nonesuch")
    async with Forge(db=tmp_path / "db.sqlite", out=tmp_path / "out") as forge:
        with pytest.raises(InvalidSpecError) as raised:
            await forge.run(batch)

    assert raised.value.field == "provider"
    assert "known providers: fal, memory, openai, replicate, runway, vertex" in str(raised.value)
    store = Store.for_path(str(tmp_path / "db.sqlite"))
    try:
        assert store.jobs() == []
    finally:
        store.close()
    assert memory.jobs == {}


def test_the_cli_names_the_known_providers_with_exit_2(
    tmp_path: Path, memory: MemoryProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    _batch(tmp_path, 1, provider="nonesuch")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["run", "boats.jsonl", "--db", str(tmp_path / "db.sqlite"), "--out", "out"]
    )
    assert result.exit_code == 2, result.output
    assert "nonesuch" in result.output
    assert "memory, openai" in result.output
