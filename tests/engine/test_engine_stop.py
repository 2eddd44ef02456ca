"""Stopping an engine while a workflow of its process is still running loses nothing and
prints nothing alarming: the workflow stays pending and the next engine continues it."""

from __future__ import annotations

import asyncio
import logging

import pytest
from dbos import DBOS, SetWorkflowID

from reelforge.engine import Engine
from reelforge.providers import Endpoint, Providers


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
