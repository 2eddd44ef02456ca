"""Stopping an engine while a workflow of its process is still running loses nothing and
prints nothing alarming: the workflow stays pending and the next engine continues it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from dbos import DBOS, SetWorkflowID
from sqlalchemy import create_engine, text

from reelforge.batch import load_batch
from reelforge.core.capabilities import ModelCapabilities, register_models
from reelforge.core.clock import Clock
from reelforge.core.models import (
    DownloadResult,
    JobSpec,
    JobState,
    RemoteState,
    RemoteStatus,
    Variant,
)
from reelforge.engine import Engine
from reelforge.providers import Endpoint, Provider, Providers, register, unregister


@DBOS.step(name="tests.engine_stop.tick")
async def _tick(n: int) -> int:
    return n + 1


@DBOS.workflow(name="tests.engine_stop.busy")
async def busy_workflow(steps: int) -> int:
    """Touches the system database as often as it can (a step, then a short durable sleep)."""
    n = 0
    while n < steps:
        n = await _tick(n)
        await DBOS.sleep_async(0.001)
    return n


def _engine(db_url: str) -> Engine:
    providers = Providers({"openai": Endpoint(provider="openai", base_url="http://127.0.0.1:9/v1")})
    return Engine(db_url=db_url, providers=providers)


async def test_a_workflow_interrupted_by_the_stop_logs_no_error_and_stays_pending(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dbos")
    async with _engine(db_url):
        with SetWorkflowID("busy-1"):
            await DBOS.start_workflow_async(busy_workflow, 10**9)
        await asyncio.sleep(0.5)

    errors = [r for r in caplog.records if r.name.startswith("dbos") and r.levelno >= logging.ERROR]
    assert errors == []
    # Nothing was lost: the interrupted workflow did not end; the next engine continues it.
    async with _engine(db_url):
        found = await DBOS.list_workflows_async(workflow_ids=["busy-1"], load_input=False)
        assert [w.status for w in found] in (["PENDING"], ["ENQUEUED"])
        await DBOS.cancel_workflow_async("busy-1")


class _SlowProvider:
    """Jobs that never finish; the server asks to be checked again in a minute."""

    name = "slowmem"
    base_url = "slowmem://local"

    def capabilities(self, model: str) -> ModelCapabilities:
        return _CAPS

    async def submit(
        self, spec: JobSpec, *, token: str | None = None, cancel_after: float | None = None
    ) -> RemoteStatus:
        return RemoteStatus(
            remote_id="slow-1",
            state=RemoteState.QUEUED,
            model=spec.model,
            prompt=spec.prompt,
            token=token,
            poll_after=60.0,
        )

    async def fetch(self, remote_id: str) -> RemoteStatus:
        raise AssertionError("a job that ended elsewhere is not asked about")

    async def list_recent(self, *, since: float | None = None) -> AsyncIterator[RemoteStatus]:
        for status in ():
            yield status

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
        raise AssertionError("nothing completes")

    async def delete(self, remote_id: str) -> None:
        return None


class _SlowEntry:
    name = "slowmem"
    credentials_hint = "nothing to set"

    def configured(self) -> Endpoint | None:
        return Endpoint(provider=self.name, base_url=_SlowProvider.base_url)

    def simulated(self, simulator_url: str) -> Endpoint | None:
        return None

    def capabilities(self, model: str) -> ModelCapabilities:
        return _CAPS

    def build(self, endpoint: Endpoint, *, client: httpx.AsyncClient, clock: Clock) -> Provider:
        return _SlowProvider()


_CAPS = ModelCapabilities(model="tiny-1", seconds=(2,), sizes=("640x360",), default_seconds=2)


@pytest.fixture
def slow_provider() -> Iterator[None]:
    register(_SlowEntry())
    register_models("slowmem", {"tiny-1": _CAPS})
    try:
        yield
    finally:
        unregister("slowmem")
        register_models("slowmem", {})


def _workflow_status(db_url: str, workflow_id: str) -> str:
    """The workflow's status as DBOS recorded it, read without starting an engine (the next
    engine would recover and finish it)."""
    table = "workflow_status" if db_url.startswith("sqlite") else "dbos.workflow_status"
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            query = text(f"SELECT status FROM {table} WHERE workflow_uuid = :id")  # noqa: S608
            return str(connection.execute(query, {"id": workflow_id}).scalar_one())
    finally:
        engine.dispose()


async def test_a_waiting_workflow_whose_job_ended_elsewhere_finishes_before_the_engine_stops(
    db_url: str, tmp_path: Path, slow_provider: None
) -> None:
    """A job workflow waiting a minute for its next check, whose job another process ended
    meanwhile (here: canceled in the store), is woken as the engine stops and returns, instead
    of being left pending (and interrupted mid-wait) for the next engine."""
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps({"prompt": "a slow boat", "key": "b", "provider": "slowmem"}))
    batch = load_batch(source)
    providers = Providers({"slowmem": Endpoint(provider="slowmem", base_url="slowmem://local")})
    async with Engine(db_url=db_url, providers=providers) as engine:
        await engine.submit(batch, out=tmp_path / "out")
        [job] = engine.store.jobs(batch.name)
        for _ in range(200):
            if engine.store.get_job(job.id).state is JobState.QUEUED:
                break
            await asyncio.sleep(0.05)
        assert engine.store.get_job(job.id).state is JobState.QUEUED
        await asyncio.sleep(0.3)  # it is waiting for its next check, a minute away
        engine.store.transition(job.id, JobState.CANCELED, expect={JobState.QUEUED})
        started = asyncio.get_running_loop().time()
    assert asyncio.get_running_loop().time() - started < 10  # not the minute-long wait
    assert _workflow_status(db_url, job.id) == "SUCCESS"
