"""``reelforge reconcile``: show and settle the jobs that need review (DESIGN section 5)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from reelforge.app.forge import Forge
from reelforge.cli._batches import find_job, job_dict, money, open_store
from reelforge.cli._common import ExitCode, err_console, out_console, print_json, reelforge_errors
from reelforge.cli._options import BaseUrlOption, DbOption, JsonOption
from reelforge.cli._session import check_accounts, forge_for
from reelforge.core.errors import ErrorCategory, InvalidSpecError
from reelforge.core.models import JobState
from reelforge.engine import review
from reelforge.engine.outcome import FINAL
from reelforge.engine.review import Finding, Plan
from reelforge.providers.openai_entry import OpenAISettings
from reelforge.store import IllegalTransitionError, JobRow, Store

__all__ = ["reconcile"]

_ABANDON_NOTE = "abandoned by a person after review"


@dataclass(frozen=True, kw_only=True, slots=True)
class _Settled:
    """A finding, whether it was applied, and the job as it ended."""

    finding: Finding
    applied: bool
    job: JobRow


def reconcile(
    db: DbOption = None,
    base_url: BaseUrlOption = None,
    adopt: Annotated[
        tuple[str, str] | None,
        typer.Option(
            metavar="JOB REMOTE_ID",
            help="Adopt REMOTE_ID as JOB's remote job (no new charge) and run the job to the end.",
        ),
    ] = None,
    resubmit: Annotated[
        str | None,
        typer.Option(
            metavar="JOB", help="Submit JOB again and run it (it may be billed a second time)."
        ),
    ] = None,
    abandon: Annotated[
        str | None,
        typer.Option(metavar="JOB", help="Give JOB up: mark it canceled, with a note."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be done; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show every job that needs review, why, and what reconciliation would do now.

    Unfinished jobs no process is running are included: one whose create request may have
    been out when its run stopped (submitting) is reconciled like any ambiguous create; the
    others are listed with the command that continues them.

    Without an action, the provider is asked again: a timed-out job that has since completed is
    collected, and an ambiguous create with exactly one matching remote job is adopted (neither
    costs anything new); the rest wait for a person: --adopt, --resubmit or --abandon. Exit
    codes: 0 nothing left to review, 1 some job still needs a person or failed, 2 bad input.
    """
    with reelforge_errors():
        actions = [a for a in (adopt, resubmit, abandon) if a is not None]
        if len(actions) > 1:
            raise InvalidSpecError(
                "give one of --adopt, --resubmit or --abandon at a time", field="action"
            )
        with open_store(db) as store:
            if adopt is not None:
                code = _adopt(store, db, base_url, adopt[0], adopt[1], as_json=as_json)
            elif resubmit is not None:
                code = _resubmit(store, db, base_url, resubmit, as_json=as_json)
            elif abandon is not None:
                code = _abandon(store, abandon, as_json=as_json)
            else:
                code = _review(store, db, base_url, dry_run=dry_run, as_json=as_json)
    raise typer.Exit(int(code))


# -- the review ---------------------------------------------------------------------------------


def _review(
    store: Store, db: str | None, base_url: str | None, *, dry_run: bool, as_json: bool
) -> ExitCode:
    jobs, unfinished = _gather(store, dry_run=dry_run)
    if not jobs:
        _show_unfinished(unfinished, as_json=as_json, wrap=True)
        return ExitCode.FAILED if unfinished else ExitCode.OK
    if base_url is None and not OpenAISettings().has_credentials:
        if as_json:
            print_json({"checked": False, "jobs": [job_dict(job) for job in jobs]})
        else:
            for job in jobs:
                out_console.print(_why(job))
            out_console.print(
                "Set OPENAI_API_KEY (and --base-url) to check them against the provider."
            )
        return ExitCode.FAILED
    forge = forge_for(base_url=base_url, db=db, out=Path("."))
    settled = asyncio.run(_check(store, forge, jobs, dry_run=dry_run, live=not as_json))
    if as_json:
        print_json(
            {
                "checked": True,
                "dry_run": dry_run,
                "jobs": [_settled_dict(s) for s in settled],
                "unfinished": [_unfinished_dict(job) for job in unfinished],
            }
        )
    else:
        for item in settled:
            _render(item, dry_run=dry_run)
        _show_unfinished(unfinished, as_json=False, wrap=False)
    pending = [s for s in settled if s.job.state is JobState.NEEDS_REVIEW]
    failed = [s for s in settled if s.job.state is JobState.FAILED]
    return ExitCode.FAILED if pending or failed or unfinished else ExitCode.OK


def _gather(store: Store, *, dry_run: bool) -> tuple[list[JobRow], list[JobRow]]:
    """The jobs to examine (in review, and submitting ones whose run stopped, moved to review
    unless ``dry_run``), and the other unfinished jobs no process is running."""
    stopped = _stopped(store)
    submitting = [job for job in stopped if job.state is JobState.SUBMITTING]
    if not dry_run:
        _to_review(store, submitting)
    jobs = store.jobs(states={JobState.NEEDS_REVIEW}) + (submitting if dry_run else [])
    return jobs, [job for job in stopped if job.state is not JobState.SUBMITTING]


def _stopped(store: Store) -> list[JobRow]:
    """Unfinished jobs no live process is running (their run was killed, or gave up): a job
    whose create may be out is reconciled here; the others continue with `reelforge retry`."""
    found = []
    running: dict[str, bool] = {}
    for job in store.jobs():
        if job.state in FINAL or job.state is JobState.NEEDS_REVIEW:
            continue
        if job.batch_id not in running:
            running[job.batch_id] = store.batch_runner(job.batch_id) is not None
        if not running[job.batch_id]:
            found.append(job)
    return found


def _to_review(store: Store, jobs: list[JobRow]) -> None:
    for job in jobs:
        with contextlib.suppress(IllegalTransitionError):
            store.transition(
                job.id,
                JobState.NEEDS_REVIEW,
                expect={JobState.SUBMITTING},
                category=ErrorCategory.TRANSIENT,
                error="its run stopped while its create request may have been out: "
                "reconciliation looks for it on the provider",
            )


def _show_unfinished(jobs: list[JobRow], *, as_json: bool, wrap: bool) -> None:
    if as_json:
        if wrap:
            print_json({"jobs": [], "unfinished": [_unfinished_dict(job) for job in jobs]})
        return
    if wrap:
        out_console.print("No job needs review.")
    for job in jobs:
        out_console.print(
            f"{escape(job.key)} ({job.id}, batch {job.batch_id}): {job.state.value}, and no "
            f"process is running its batch: `reelforge retry {job.batch_id}` continues it"
        )


def _unfinished_dict(job: JobRow) -> dict[str, object]:
    return {**job_dict(job), "next": f"reelforge retry {job.batch_id}"}


async def _check(
    store: Store, forge: Forge, jobs: list[JobRow], *, dry_run: bool, live: bool
) -> list[_Settled]:
    async with forge:
        account = forge.account()
        findings = await review.examine(
            store, forge.provider, jobs, account=account, now=forge.clock.now()
        )
        applied: dict[str, bool] = {}
        to_run: list[str] = []
        for finding in findings:
            if dry_run or not finding.automatic:
                continue
            needs_run = review.settle(store, finding)
            now = store.get_job(finding.job.id).state
            applied[finding.job.id] = now is not JobState.NEEDS_REVIEW
            if needs_run:
                to_run.append(finding.job.id)
        await _run(forge, to_run, live=live)
    return [
        _Settled(finding=f, applied=applied.get(f.job.id, False), job=store.get_job(f.job.id))
        for f in findings
    ]


async def _run(forge: Forge, job_ids: list[str], *, live: bool) -> None:
    """Run the settled jobs to the end (poll, download) on an engine session."""
    if not job_ids:
        return
    async with forge.engine() as engine:
        if not live:
            await review.run_jobs(engine, job_ids)
            return
        with err_console.status(f"collecting {len(job_ids)} job(s)…") as spinner:

            def show(rows: list[JobRow]) -> None:
                states = ", ".join(f"{row.key}: {row.state.value}" for row in rows)
                spinner.update(f"collecting {escape(states)}")

            await review.run_jobs(engine, job_ids, on_update=show)


def _why(job: JobRow) -> str:
    return f"{escape(job.key)} ({job.id}, batch {job.batch_id}): {escape(job.error or 'no reason')}"


def _render(item: _Settled, *, dry_run: bool) -> None:
    finding, job = item.finding, item.job
    out_console.print(_why(finding.job))
    out_console.print(f"  now: {escape(finding.detail)}")
    if finding.candidates and finding.plan is Plan.CHOOSE:
        out_console.print(f"  candidates: {', '.join(finding.candidates)}")
    if item.applied:
        out_console.print(f"  done: {job.state.value}{_cost_note(job)}{_files(job)}")
    elif finding.automatic and dry_run:
        out_console.print("  (dry run: nothing changed)")


def _cost_note(job: JobRow) -> str:
    if job.state is JobState.DONE and job.actual_cost is not None:
        return f"; cost ${job.actual_cost:.2f} (already paid when it was created)"
    if job.state is JobState.FAILED:
        return "; cost $0.00"
    return ""


def _files(job: JobRow) -> str:
    if job.state is not JobState.DONE:
        return ""
    return f"; files in {job.batch_id}/{job.key}/ under the batch's output folder"


def _settled_dict(item: _Settled) -> dict[str, object]:
    return {
        **job_dict(item.job),
        "reason": item.finding.job.error,
        "plan": item.finding.plan.value,
        "detail": item.finding.detail,
        "candidates": list(item.finding.candidates),
        "automatic": item.finding.automatic,
        "applied": item.applied,
    }


# -- a person's decisions -----------------------------------------------------------------------


def _adopt(
    store: Store, db: str | None, base_url: str | None, ref: str, remote_id: str, *, as_json: bool
) -> ExitCode:
    job = find_job(store, ref)
    forge = forge_for(base_url=base_url, db=db, out=Path("."))
    check_accounts([job], forge.account(), base_url=forge.base_url)

    async def go() -> bool:
        async with forge:
            status = await review.adopt(store, forge.provider, job, remote_id)
            matched = review.spec_matches(job, status)
            await _run_one(forge, store, job.id, live=not as_json)
        return matched

    matched = asyncio.run(go())
    final = store.get_job(job.id)
    message = (
        f"adopted {remote_id} for {job.key} ({job.id}): already created and paid on the "
        f"provider, no new charge; the job ended {final.state.value}{_cost_note(final)}"
    )
    warning = (
        None
        if matched
        else (f"{remote_id} does not have this job's prompt and parameters; adopted as asked")
    )
    return _decision("adopt", final, message, warning=warning, as_json=as_json)


def _resubmit(
    store: Store, db: str | None, base_url: str | None, ref: str, *, as_json: bool
) -> ExitCode:
    job = find_job(store, ref)
    forge = forge_for(base_url=base_url, db=db, out=Path("."))
    check_accounts([job], forge.account(), base_url=forge.base_url)
    review.resubmit(store, job)
    estimate = f"${job.estimated_cost:.2f}" if job.estimated_cost is not None else "its price"
    if not as_json:
        err_console.print(
            f"resubmitting {escape(job.key)} ({job.id}): a new create is sent and billed "
            f"(about {estimate}); if the earlier create went through too, that one may be billed "
            "as well"
        )
    asyncio.run(_run_one(forge, store, job.id, live=not as_json))
    final = store.get_job(job.id)
    message = (
        f"resubmitted {job.key} ({job.id}) as {final.remote_id or 'a new job'}: it ended "
        f"{final.state.value}{_cost_note(final)}; a new create was billed (about {estimate})"
    )
    return _decision("resubmit", final, message, as_json=as_json)


def _abandon(store: Store, ref: str, *, as_json: bool) -> ExitCode:
    job = find_job(store, ref)
    state = review.abandon(store, job, _ABANDON_NOTE)
    final = store.get_job(job.id)
    message = f"abandoned {job.key} ({job.id}): {state.value}; its reservation was released"
    if job.remote_id is not None:
        message += f"; {job.remote_id} may still be billed by the provider"
    elif job.intent_at is not None:
        message += "; if its create reached the provider, that job may still be billed"
    _decision("abandon", final, message, as_json=as_json)
    return ExitCode.OK


async def _run_one(forge: Forge, store: Store, job_id: str, *, live: bool) -> None:
    """Run one settled job to the end on an engine session (nothing to do if it has ended)."""
    if store.get_job(job_id).state in FINAL:
        return
    async with forge.engine() as engine:
        if live:
            with err_console.status(f"running {job_id}…"):
                await review.run_jobs(engine, [job_id])
        else:
            await review.run_jobs(engine, [job_id])


def _decision(
    action: str, job: JobRow, message: str, *, warning: str | None = None, as_json: bool
) -> ExitCode:
    if as_json:
        print_json(
            {
                "action": action,
                "message": message,
                "warning": warning,
                "job": job_dict(job),
                "estimated_cost": money(job.estimated_cost),
            }
        )
    else:
        if warning:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", markup=True)
        out_console.print(escape(message))
    return ExitCode.OK if job.state in (JobState.DONE, JobState.CANCELED) else ExitCode.FAILED
