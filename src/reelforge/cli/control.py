"""``reelforge retry``, ``cancel`` and ``poke``: act on recorded batches and jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from reelforge.app.batchrun import BatchResult
from reelforge.app.forge import Forge
from reelforge.cli._batches import find_batch, find_job, open_store
from reelforge.cli._common import (
    ExitCode,
    err_console,
    fail,
    out_console,
    print_json,
    reelforge_errors,
)
from reelforge.cli._options import BaseUrlOption, DbOption, JsonOption
from reelforge.cli._session import check_accounts, follow_batch, forge_for
from reelforge.cli.run import report
from reelforge.core.config import display_url
from reelforge.core.errors import InvalidSpecError
from reelforge.core.models import JobState
from reelforge.core.paths import check_output_dir
from reelforge.engine.control import CancelOutcome, CancelResult, WorkflowControl, cancel_jobs
from reelforge.engine.outcome import FINAL
from reelforge.providers.openai_entry import OpenAISettings
from reelforge.store import BatchNotFoundError, BatchRow, BatchState, JobRow, Store

__all__ = ["cancel", "poke", "retry"]


def retry(
    batch: Annotated[str, typer.Argument(help="The batch id.", show_default=False)],
    failed: Annotated[
        bool, typer.Option("--failed", help="Retry the failed jobs (always done).")
    ] = True,
    review: Annotated[
        bool,
        typer.Option(
            "--review",
            help="Also retry needs-review jobs: each is submitted again and may be billed twice.",
        ),
    ] = False,
    base_url: BaseUrlOption = None,
    db: DbOption = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the videos (default: the one the batch ran with)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Send a batch's failed jobs back to the queue and run the batch to the end.

    Needs the provider (--base-url, OPENAI_API_KEY) the batch ran with. Exit codes: 0 every job
    done, 1 some failed, 2 bad input.
    """
    del failed  # the failed jobs are always retried; the flag is there to say so
    with reelforge_errors():
        if out is not None:
            check_output_dir(out)
        with open_store(db) as store:
            row = find_batch(store, batch)
            states = {JobState.FAILED, JobState.NEEDS_REVIEW} if review else {JobState.FAILED}
            involved = [j for j in store.jobs(row.id) if j.state in states or j.state not in FINAL]
            if out is not None and Path(row.out_dir) != out:
                row = store.upsert_batch(
                    row.id,
                    name=row.name,
                    out_dir=out,
                    source=row.source,
                    budget_usd=row.budget_usd,
                    max_in_flight=row.max_in_flight,
                    rpm=row.rpm,
                )
        forge = forge_for(base_url=base_url, db=db, out=Path(row.out_dir), batch=row)
        check_accounts(involved, forge.account(), base_url=forge.base_url)
        check_output_dir(Path(row.out_dir))
        result = asyncio.run(_retry(forge, row, review=review, live=not as_json))
    report(result, as_json=as_json)


async def _retry(forge: Forge, batch: BatchRow, *, review: bool, live: bool) -> BatchResult:
    async with forge.engine() as engine:
        count = await engine.retry(batch.id, failed_only=not review)
        err_console.print(
            f"batch {batch.id}: {count} job{'s' if count != 1 else ''} sent back to the queue"
            + ("; a needs-review job resubmitted may be billed again" if review and count else "")
            + f"; database {display_url(forge.db_url)}"
        )
        return await follow_batch(engine, batch, out_dir=Path(batch.out_dir), live=live)


def cancel(
    target: Annotated[
        str, typer.Argument(help="A batch id, or a job id or key.", show_default=False)
    ],
    db: DbOption = None,
    base_url: BaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a batch's unfinished jobs, or one job.

    Their workflows are stopped, their reservations released, and jobs already created on the
    provider are deleted there (this needs OPENAI_API_KEY and the run's --base-url). A created
    job is checked first: one the provider has already completed is paid for, so it is kept
    and downloaded, not deleted. A job whose create request may be out (submitting) is stopped
    and looked for in the provider's listing: found, it is canceled like a created job;
    otherwise it is canceled here with a note that the provider may have made it. An endpoint
    that cannot delete (a gateway answering 405) leaves the job canceled here, with a note.
    Exit codes: 0 done, 1 some job could not be canceled, 2 bad input.
    """
    with reelforge_errors(), open_store(db) as store:
        batch, jobs = _targets(store, target)
        results = asyncio.run(_cancel(store, jobs, base_url=base_url))
        if batch is not None and all(r.job.state in FINAL for r in results):
            store.set_batch_state(batch.id, BatchState.CANCELED)
    refused = [r for r in results if r.outcome in (CancelOutcome.REFUSED, CancelOutcome.COMPLETED)]
    if as_json:
        print_json({"target": target, "jobs": [_cancel_dict(r) for r in results]})
    else:
        _render_cancel(results)
    raise typer.Exit(int(ExitCode.FAILED if refused else ExitCode.OK))


def _targets(store: Store, target: str) -> tuple[BatchRow | None, list[JobRow]]:
    try:
        batch = store.get_batch(target)
    except BatchNotFoundError:
        try:
            return None, [find_job(store, target)]
        except InvalidSpecError:
            known = ", ".join(row.id for row in store.batches()) or "none"
            raise InvalidSpecError(
                f"no batch or job {target!r}; known batches: {known}", field="target", value=target
            ) from None
    return batch, store.jobs(batch.id)


async def _cancel(store: Store, jobs: list[JobRow], *, base_url: str | None) -> list[CancelResult]:
    control = WorkflowControl(store.url)
    try:
        created = any(
            (job.remote_id or job.state is JobState.SUBMITTING) and job.state not in FINAL
            for job in jobs
        )
        if not created or not OpenAISettings().has_credentials:
            return await cancel_jobs(store, control, jobs)
        forge = forge_for(base_url=base_url, db=store.url, out=Path("."))
        async with forge:
            return await cancel_jobs(
                store, control, jobs, provider=forge.provider, account=forge.account()
            )
    finally:
        await asyncio.to_thread(control.close)


def _render_cancel(results: list[CancelResult]) -> None:
    canceled = [r for r in results if r.outcome is CancelOutcome.CANCELED]
    for r in results:
        if r.outcome is CancelOutcome.ALREADY_ENDED and len(results) > 1:
            continue
        line = f"{escape(r.job.key)} ({r.job.id}): "
        if r.outcome is CancelOutcome.CANCELED:
            line += "canceled"
            if r.remote_deleted:
                line += f"; deleted {escape(r.job.remote_id or '')} on the provider"
            if r.remote_note:
                line += f"; {escape(r.remote_note)}"
        elif r.outcome is CancelOutcome.ALREADY_ENDED:
            line += f"already {r.job.state.value}; nothing to cancel"
        elif r.outcome is CancelOutcome.COMPLETED:
            line += f"not canceled: {escape(r.reason or '')}"
        else:
            line += f"not canceled ({r.job.state.value}): {escape(r.reason or '')}"
        out_console.print(line)
    ended = sum(1 for r in results if r.outcome is CancelOutcome.ALREADY_ENDED)
    out_console.print(
        f"{len(canceled)} canceled"
        + (f", {ended} had already ended" if ended else "")
        + (
            f", {len(results) - len(canceled) - ended} not canceled"
            if len(results) > len(canceled) + ended
            else ""
        )
    )


def _cancel_dict(result: CancelResult) -> dict[str, object]:
    return {
        "id": result.job.id,
        "key": result.job.key,
        "outcome": result.outcome.value,
        "state": result.job.state.value,
        "reason": result.reason,
        "workflow_id": result.workflow_id,
        "remote_id": result.job.remote_id,
        "remote_deleted": result.remote_deleted,
        "remote_note": result.remote_note,
    }


def poke(
    job: Annotated[str, typer.Argument(help="A job id or key.", show_default=False)],
    db: DbOption = None,
) -> None:
    """Wake a waiting job's workflow so it checks the provider now.

    Exit codes: 0 woken, 1 the job has no running workflow, 2 unknown job.
    """
    with reelforge_errors(), open_store(db) as store:
        row = find_job(store, job)
        control = WorkflowControl(store.url)
        try:
            workflow_id = control.poke(row.id)
        finally:
            control.close()
    if workflow_id is None:
        fail(
            f"job {row.id} has no running workflow (it is {row.state.value}): nothing to wake; "
            "`reelforge run` or `reelforge retry` starts it"
        )
    out_console.print(f"woke {escape(row.key)} ({row.id}): workflow {workflow_id}")
