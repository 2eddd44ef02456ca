"""Engine sessions: running a batch with its sinks and live view (``run``, ``campaign run``,
``demo``) and continuing recorded batches (``retry``, ``reconcile``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

from reelforge.app.batchrun import BatchResult
from reelforge.app.forge import Forge
from reelforge.cli._common import err_console
from reelforge.cli._sinkflags import report_sinks
from reelforge.cli.live import BatchView
from reelforge.core.errors import ConfigError
from reelforge.engine import Engine
from reelforge.sinks.config import SinkPlan
from reelforge.sinks.follow import DEFAULT_FINAL_WAIT
from reelforge.store import BatchRow, BatchSummary, JobRow, Store

_T = TypeVar("_T")
UpdateHook = Callable[[BatchSummary], None] | None

__all__ = ["check_accounts", "follow_batch", "forge_for", "run_with_engine"]


def forge_for(
    *, base_url: str | None, db: str | None, out: Path, batch: BatchRow | None = None
) -> Forge:
    """A forge for the provider the jobs were sent to, never the embedded simulator.

    Recorded jobs belong to the account (base URL and key) they were submitted with; the
    embedded simulator listens on a new port each time, so it can never continue them.
    """
    return Forge(
        base_url=base_url,
        simulator=False,
        db=db,
        out=out,
        max_in_flight=batch.max_in_flight if batch is not None else 4,
        rpm=batch.rpm if batch is not None else None,
    )


def check_accounts(jobs: Iterable[JobRow], account: str, *, base_url: str) -> None:
    """Bad input (exit 2) if any job was submitted with other credentials than ours."""
    foreign = sorted({job.id for job in jobs if job.account != account})
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise ConfigError(
            f"job {shown} was submitted with another base URL or API key than {base_url}: "
            "run again with the --base-url and OPENAI_API_KEY the batch ran with"
        )


async def follow_batch(
    engine: Engine, batch: BatchRow, *, out_dir: Path, live: bool
) -> BatchResult:
    """Wait for every job of the batch on a running engine, with the live view unless ``live``
    is off; return how the batch ended."""
    if live:
        view = BatchView(engine.store, batch.id, console=err_console)
        with view.live:
            summary = await engine.wait(batch.id, on_update=view.update)
    else:
        summary = await engine.wait(batch.id)
    return BatchResult(
        batch_id=batch.id,
        summary=summary,
        jobs=tuple(engine.store.jobs(batch.id)),
        out_dir=out_dir / batch.name,
    )


async def run_with_engine(
    forge: Forge,
    batch_name: str,
    work: Callable[[Engine, UpdateHook], Awaitable[_T]],
    *,
    live: bool,
    prepare: Callable[[Store, Engine], object] | None = None,
    sinks: SinkPlan | None = None,
    sink_wait: float = DEFAULT_FINAL_WAIT,
) -> _T:
    """Run ``work(engine, on_update)`` on the forge's engine (the forge entered already), with
    ``prepare`` and the sinks' checks before the engine starts (see :meth:`Forge.running`),
    the sinks following the outbox and, when ``live``, the batch's live view."""
    async with forge.running(
        prepare=prepare, sinks=sinks, sink_wait=sink_wait, batch=batch_name
    ) as (
        engine,
        follower,
    ):
        if not live:
            result = await work(engine, None)
        else:
            view = BatchView(engine.store, batch_name, console=err_console)
            with view.live:
                result = await work(engine, view.update)
    report_sinks(follower)
    return result
