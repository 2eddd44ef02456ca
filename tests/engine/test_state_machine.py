"""The job state machine under random interleavings of steps, crashes, restarts, time and a
provider that answers in every way the protocol allows.

The real step bodies (:mod:`reelforge.engine.logic`) run against a real SQLite store, in the
order the job workflow calls them, carrying what the workflow carries from one step to the next
(the strikes of unusable answers) and honouring the waits it asks for unless woken (a poke).
DBOS is left out and replaced by what it promises: a step whose result was not recorded (it
crashed) runs again, one whose result was recorded never does, and a workflow that ended in an
error is started again from its first step (by the engine's watchdog, or by the next
``reelforge run``). Steps run on the fake clock's event loop, so a create that hangs until the
engine's timeout takes clock time, not real time.

Beyond one well-behaved owner per job, the machine also starts a second owner of a job's
workflow (a recovered copy started while the original still runs, which the executor leases
prevent in production) and runs both at once, interleaving at every provider call; it cancels
jobs as ``reelforge cancel`` does, possibly right after the provider completed them; and it
retries downloads that failed for good. The fake provider's own records are the ground truth for
"created once", "never lost", "never deleted once completed" and "completed before it was done".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fakes import (
    CREATING,
    NOTHING_MADE,
    CreateAnswer,
    FakeClock,
    FakeProvider,
    Fault,
    ReadAnswer,
    asset_sha256,
)
from hypothesis import Phase, currently_in_test_context, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from reelforge.core.errors import DownloadError, ErrorCategory, ProviderError
from reelforge.core.models import JobSpec, JobState, RemoteState
from reelforge.core.polling import PollPolicy
from reelforge.core.pricing import default_prices
from reelforge.engine import logic
from reelforge.engine.context import EngineContext, install, uninstall
from reelforge.engine.control import CancelOutcome, WorkflowControl, cancel_jobs
from reelforge.engine.crash import CrashPoint, set_crash_handler
from reelforge.engine.logic import StepResult
from reelforge.engine.outcome import FINAL
from reelforge.engine.reconcile import ReconcilePolicy
from reelforge.providers.base import Provider
from reelforge.store import EventKind, JobRow, NewJob, Store, job_id

S = JobState
BATCH = "spring"
ACCOUNT = "fake-account"
SECONDS = (4, 8, 12)
CREATED = frozenset({S.QUEUED, S.IN_PROGRESS, S.COMPLETED, S.DOWNLOADING, S.DONE})
"""States in which the job exists on the provider, so it must hold a remote id."""
RESERVED = frozenset(
    {S.WAITING, S.SUBMITTING, S.QUEUED, S.IN_PROGRESS, S.COMPLETED, S.DOWNLOADING, S.NEEDS_REVIEW}
)
"""States in which an admitted job under a budget still holds its reservation."""
STARTED = frozenset(JobState) - FINAL - {S.PENDING, S.WAITING}
"""Jobs whose errored workflow the engine's watchdog starts again (as ``Engine.wait`` does)."""
STOPPED_LOOKING = frozenset({ErrorCategory.TIMEOUT, ErrorCategory.PROTOCOL})
"""Why a job with a remote id may stop for review: past its timeout, or unusable answers."""
MAX_WATCHDOG_RESTARTS = 3
MAX_FINAL_ROUNDS = 100
POLL = PollPolicy()
RECONCILE = ReconcilePolicy()

CLOCK_STEPS = (1.0, 3.0, 11.0, 130.0, POLL.timeout + 400.0)
"""Seconds the clock may jump: past the listing lag (30 s), the resend window (120 s), and
the poll timeout (a running job then goes to review with its remote id)."""
ANSWERS = (*CreateAnswer, CreateAnswer.SLOW, CreateAnswer.SLOW_DROPPED)
"""Create answers the machine draws, slow creates twice as often as the others."""
CREATE_DELAYS = (5.0, RECONCILE.listing_lag + 10.0, RECONCILE.create_timeout)
"""Seconds a slow create takes to make its job: at the latest when the engine gives up on it."""
ACCEPTED = frozenset({CreateAnswer.UNREADABLE})
"""Ambiguous answers to a create that was accepted: the engine may resend sooner (the job
exists, so only the listing's lag stands between it and being seen)."""

T = TypeVar("T")

_TEMPLATE: Path | None = None


def _note(text: str) -> None:
    """Count ``text`` in Hypothesis's statistics (``--hypothesis-show-statistics``)."""
    if currently_in_test_context():
        event(text)


def _template() -> Path:
    """A migrated, empty database, made once and copied for every example (migrating is slow)."""
    global _TEMPLATE  # noqa: PLW0603  # a per-session cache
    if _TEMPLATE is None:
        folder = Path(tempfile.mkdtemp(prefix="reelforge-engine-template-"))
        with Store.for_path(folder / "db.sqlite") as store:
            store.migrate()
        _TEMPLATE = folder / "db.sqlite"
    return _TEMPLATE


class _Crash(BaseException):
    """The process dies at a crash point (``kill -9``): nothing after it happens."""

    def __init__(self, point: CrashPoint, *, restart: bool) -> None:
        super().__init__(point.value)
        self.restart = restart
        """Whether a new process starts after it."""


class Step(StrEnum):
    """Where a job's workflow is: the step it runs next, or how it ended."""

    ADMIT = "admit"
    SUBMIT = "submit"
    POLL = "poll"
    DOWNLOAD = "download"
    END = "end"
    """The workflow returned."""
    ERROR = "error"
    """A step raised: the workflow ended in error and waits to be started again."""
    CANCELED = "canceled"
    """The workflow was canceled (``reelforge cancel``): it runs no further step."""


_ENDED = frozenset({Step.END, Step.ERROR, Step.CANCELED})
_STOPPED = frozenset({Step.ERROR, Step.CANCELED})
"""Workflows that ended without returning: an unfinished job's is started again."""


@dataclass(eq=False)
class Workflow:
    """One run of a job's workflow: the step it runs next, and what it carries between steps."""

    job: str
    step: Step = Step.ADMIT
    strikes: int = 0
    """Unusable answers in a row, passed from one submit (or poll) step to the next."""
    ready_at: float = 0.0
    """It waits until then (the ``wait`` its last step asked for), unless woken."""
    in_a_row: int = 0
    """Unusable answers its steps got in a row, with nothing else in between."""
    since_usable: int = 0
    """Unusable answers its steps got since the last usable one (no answer is neither)."""

    @property
    def active(self) -> bool:
        return self.step not in _ENDED


async def _step(flow: Workflow) -> StepResult:
    """The body of ``flow``'s next step, called as the job workflow calls it."""
    if flow.step is Step.ADMIT:
        return await logic.admit(flow.job)
    if flow.step is Step.SUBMIT:
        return await logic.submit(flow.job, flow.strikes)
    if flow.step is Step.POLL:
        return await logic.poll(flow.job, flow.strikes)
    assert flow.step is Step.DOWNLOAD
    return await logic.download(flow.job)


@dataclass
class _Outcome:
    """What running some workflow steps at once came to."""

    restart: bool = False
    """A step crashed, and a new process starts after it."""
    unusable: int = 0
    """The most unusable answers a workflow had since its last usable one."""
    submitted: bool = False
    """A submit step returned."""


def _next_step(step: Step, state: JobState) -> Step:
    """What the job's workflows do after ``step`` returned ``state`` (see
    :mod:`reelforge.engine.workflow`: admit, submit until sent, poll until finished, download)."""
    if step in (Step.ADMIT, Step.SUBMIT):
        if state in (S.WAITING, S.SUBMITTING):
            return Step.SUBMIT
        if state in FINAL:
            return Step.END
    if step is not Step.DOWNLOAD:
        if state in (S.QUEUED, S.IN_PROGRESS):
            return Step.POLL
        if state in (S.COMPLETED, S.DOWNLOADING):
            return Step.DOWNLOAD
    return Step.END


class RemoteMove(StrEnum):
    """What the provider does to a job it created."""

    START = "start"
    COMPLETE = "complete"
    FAIL = "fail"
    """Fails with ``generation_failed``."""
    REFUSE = "refuse"
    """Fails with ``content_policy``."""
    CANCEL = "cancel"
    """Canceled on the provider's side."""
    EXPIRE = "expire"
    """A completed job's assets are gone."""


MOVES = (RemoteMove.COMPLETE, *RemoteMove)
"""Completing is drawn twice as often as the other moves, so more jobs reach downloading."""
UNUSABLE_RUNS = (1, logic.MAX_STRIKES - 1, logic.MAX_STRIKES, 2 * logic.MAX_STRIKES)
"""How many checks in a row get an unusable answer: short of the strikes that stop a job,
just enough, and enough for two jobs (checks of every job draw from the same faults)."""
FAULTS = (*Fault, Fault.DOWNLOAD_DROPPED, Fault.DOWNLOAD_DISK_FULL)
"""Download faults are drawn twice as often as the others: they wait for a download."""


def _spec(index: int, *, takes: bool) -> JobSpec:
    """Job ``index``'s spec: its own, or (``takes``) the same spec as every other job's."""
    if takes:
        return JobSpec(prompt="a lighthouse at dusk", model="sora-2", labels={"brand": "acme"})
    return JobSpec(
        prompt=f"a lighthouse at dusk, take {index}",
        model="sora-2",
        seconds=SECONDS[index % len(SECONDS)],
        labels={"brand": "acme"},
    )


class Control(WorkflowControl):
    """The job workflows as the machine runs them, for :func:`cancel_jobs`: canceling one
    stops every live run of it (as DBOS does), and is recorded."""

    def __init__(self, machine: JobLifeCycle) -> None:
        super().__init__(machine.url)
        self.machine = machine
        self.canceled: list[str] = []
        """Every job whose workflow a cancel asked to stop, in order."""

    def cancel(self, job_id: str) -> str | None:
        self.canceled.append(job_id)
        live = [flow for flow in self.machine.flows[job_id] if flow.active]
        for flow in live:
            flow.step = Step.CANCELED
        return job_id if live else None


class JobLifeCycle(RuleBasedStateMachine):
    """A batch of jobs driven through the real steps, with faults, against a fake provider."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="reelforge-engine-sm-"))
        self.url = f"sqlite:///{self.folder}/db.sqlite"
        shutil.copy(_template(), self.folder / "db.sqlite")
        self.clock = FakeClock()
        self.provider = FakeProvider(self.clock)
        self.prices = default_prices()
        self.store = Store(self.url, now=self.clock.now)
        self.control = Control(self)
        self.ids: list[str] = []
        self.prompts: dict[str, list[str]] = {}
        """Prompt → the ids of the jobs with that prompt."""
        self.price: dict[str, Decimal] = {}
        self.flows: dict[str, list[Workflow]] = {}
        """Each job's runs of its workflow: the latest one first, then any second owner."""
        self.restarts: dict[str, int] = {}
        """Watchdog restarts per job in this process (the engine keeps them in memory)."""
        self.budget: Decimal | None = None
        self.crashes: dict[CrashPoint, bool] = {}
        """Armed crash points, each with whether a new process starts after it fires."""
        self.create_answers: dict[str, Counter[CreateAnswer]] = {}
        """How the provider answered each job's creates."""
        self.paid: set[str] = set()
        """Jobs whose download failed for good: made on the provider, so paid all the same."""
        self.kept: set[str] = set()
        """Jobs a cancel found completed on the provider: they must still be downloaded."""
        self.verified: set[str] = set()
        """Done jobs whose files have been checked."""
        set_crash_handler(self._crash_handler)
        install(self._context())

    def _context(self) -> EngineContext:
        return EngineContext(
            store=self.store,
            providers={ACCOUNT: self.provider},
            clock=self.clock,
            poll=POLL,
            reconcile=RECONCILE,
            prices=self.prices,
        )

    def _crash_handler(self, point: CrashPoint) -> None:
        if point in self.crashes:
            _note(f"crash at {point.value}")
            raise _Crash(point, restart=self.crashes.pop(point))

    def _runnable(self) -> list[Workflow]:
        """Every live workflow run that is not waiting, job by job."""
        now = self.clock.now()
        return [
            flow
            for job in self.ids
            for flow in self.flows[job]
            if flow.active and flow.ready_at <= now
        ]

    def _run(
        self,
        *flows: Workflow,
        steps: int = 1,
        sleep: bool = False,
        beside: Coroutine[Any, Any, T] | None = None,
    ) -> T | None:
        """Run the next ``steps`` steps of each of ``flows`` (runs of one job's workflow), all
        at once: each flow is a task of its own, and they interleave at every provider call. A
        flow stops at a wait its step asks for, or (``sleep``) sleeps through it on the clock.
        ``beside`` runs at the same time (a command of the user's); its result is returned."""
        job = flows[0].job
        before = self.store.get_job(job)
        calls = len(self.provider.create_calls)
        outcome = _Outcome()
        result = self.clock.run(self._drive(flows, steps, sleep, outcome, beside))
        answers = [answer for _, answer in self.provider.create_calls[calls:]]
        self.create_answers[job].update(answers)
        for answer in answers:
            _note(f"a create answered {answer.value}")
        after = self.store.get_job(job)
        reviewed = after.state is S.NEEDS_REVIEW and before.state is not S.NEEDS_REVIEW
        if reviewed:
            _note(f"a job stops for review: {after.category}")
        if reviewed and after.category is ErrorCategory.PROTOCOL:
            assert outcome.unusable >= logic.MAX_STRIKES, (
                f"{job} stopped after {outcome.unusable} unusable answers, not {logic.MAX_STRIKES}"
            )
        if outcome.submitted:
            self._check_resends(job)
        if outcome.restart:
            self._restart()
        return result

    async def _drive(
        self,
        flows: Sequence[Workflow],
        steps: int,
        sleep: bool,
        outcome: _Outcome,
        beside: Coroutine[Any, Any, T] | None,
    ) -> T | None:
        driven = [self._drive_one(flow, steps, sleep, outcome) for flow in flows]
        if beside is None:
            await asyncio.gather(*driven)
            return None
        *_, result = await asyncio.gather(*driven, beside)
        return result

    async def _drive_one(self, flow: Workflow, steps: int, sleep: bool, outcome: _Outcome) -> None:
        for _ in range(steps):
            wait = flow.ready_at - self.clock.now()
            if wait > 0 and sleep:
                await asyncio.sleep(wait)
            elif wait > 0:
                return
            if not flow.active:
                return
            step, reads = flow.step, len(self.provider.reads)
            try:
                result = await _step(flow)
            except _Crash as crash:
                # Not recorded: DBOS runs this step again on recovery.
                outcome.restart = outcome.restart or crash.restart
                return
            except Exception as error:  # _failed re-raises what no fault explains
                self._failed(flow, step, error)
                return
            task = asyncio.current_task()
            asked = [read.answer for read in self.provider.reads[reads:] if read.task is task]
            outcome.unusable = max(outcome.unusable, self._record(flow, step, result, asked))
            outcome.submitted = outcome.submitted or step is Step.SUBMIT

    def _failed(self, flow: Workflow, step: Step, error: BaseException) -> None:
        """A step raised: its workflow ended in error, which only a fault may cause."""
        injected = any(error is raised for raised in self.provider.raised)
        if not (injected and isinstance(error, ProviderError | DownloadError)):
            raise error
        _note(f"workflow error in {step.value}: {type(error).__name__}")
        flow.step = Step.ERROR

    def _record(
        self, flow: Workflow, step: Step, result: StepResult, asked: list[ReadAnswer]
    ) -> int:
        """What DBOS records of a step that returned, and what the workflow does with it;
        return how many unusable answers the workflow has had since its last usable one."""
        state = result.state
        for answer in asked:
            if answer is ReadAnswer.UNUSABLE:
                flow.in_a_row += 1
                flow.since_usable += 1
            else:
                flow.in_a_row = 0
                if answer is ReadAnswer.USABLE:
                    flow.since_usable = 0
        if flow.step is Step.CANCELED:
            return 0  # canceled while its step ran: the workflow stops there
        flow.step = _next_step(step, state)
        flow.strikes = result.strikes if flow.step is step else 0
        flow.ready_at = self.clock.now() + result.wait
        if flow.in_a_row >= logic.MAX_STRIKES:
            assert flow.step not in (Step.SUBMIT, Step.POLL), (
                f"{flow.job} keeps going after {flow.in_a_row} unusable answers in a row"
            )
        unusable = flow.since_usable
        if flow.strikes == 0:
            flow.in_a_row = flow.since_usable = 0  # the workflow counts afresh
        failed = step is Step.DOWNLOAD and state is S.FAILED
        if failed and self.store.get_job(flow.job).category is ErrorCategory.DOWNLOAD:
            _note("a download fails for good")
            self.paid.add(flow.job)
        return unusable

    def _check_resends(self, job: str) -> None:
        """A create is sent again only as a recorded decision, at or after the intent's
        ``resend_after`` (brought forward only by an accepted create): every resend left a
        ``resubmit`` note, and every other withdrawn intent had an answer that made nothing.

        A note names its intent by ``intent_at``: with two owners, one may decide on an intent
        the other has already withdrawn, and its note then follows the next intent."""
        answers = self.create_answers[job]
        refused = sum(answers[answer] for answer in NOTHING_MADE)
        accepted = sum(answers[answer] for answer in ACCEPTED)
        intents: dict[float, Any] = {}
        noted: set[float] = set()
        latest: float | None = None
        notes = unnoted = 0
        for entry in self.store.history(job):
            if entry.kind is EventKind.INTENT:
                intents[entry.at] = entry
                latest = entry.at
            elif entry.kind is EventKind.NOTE and entry.data.get("decision") == "resubmit":
                intent = intents[entry.data["intent_at"]]
                deadline = entry.data["resend_after"]
                assert entry.data["decided_at"] >= deadline, f"{job} resent before {deadline}"
                assert intent.at + RECONCILE.listing_lag <= deadline
                assert deadline <= intent.data["resend_after"]
                if not accepted:
                    assert deadline == intent.data["resend_after"], f"{job}: deadline moved"
                notes += 1
                noted.add(intent.at)
            elif entry.kind is EventKind.STATE and entry.data.get("intent_cleared"):
                unnoted += latest not in noted
        assert unnoted <= refused, f"{job}: an intent withdrawn without a reason"
        if notes:
            _note("a create is sent again after its deadline")
        sent = answers.total()
        assert notes >= sent - 1 - refused, f"{job}: {sent} creates, {notes} resubmit notes"

    def _restart(self) -> None:
        """A new process: a new context over the same file, and ``reelforge run`` resuming
        the batch (every unfinished job whose workflow ended in error, or was canceled, starts
        again)."""
        self.store.close()
        self.store = Store(self.url, now=self.clock.now)
        install(self._context())
        self.restarts.clear()
        for job in self.ids:
            if self.flows[job][0].step in _STOPPED and self.store.get_job(job).state not in FINAL:
                self.flows[job][0] = Workflow(job=job)

    # -- set-up -------------------------------------------------------------------------------

    @initialize(
        count=st.integers(min_value=1, max_value=4),
        budget=st.sampled_from([None, None, None, "1.00", "2.00"]),
        crashes=st.dictionaries(st.sampled_from(CrashPoint), st.booleans(), max_size=3),
        answers=st.lists(st.sampled_from(ANSWERS), max_size=3),
        list_lag=st.sampled_from([0.0, 0.0, RECONCILE.listing_lag / 2]),
        instant=st.sampled_from([False, False, False, True]),
        takes=st.sampled_from([False, False, True]),
        create_delay=st.sampled_from(CREATE_DELAYS),
    )
    def plan(
        self,
        count: int,
        budget: str | None,
        crashes: dict[CrashPoint, bool],
        answers: list[CreateAnswer],
        list_lag: float,
        instant: bool,
        takes: bool,
        create_delay: float,
    ) -> None:
        """The batch, and the first faults: crash points armed, answers to the first creates,
        a listing that lags behind creates (by less than the grace period), how long a slow
        create takes to make its job, and maybe a provider that creates jobs already completed.
        With ``takes`` every job has the same spec (several takes of one prompt), so only the
        store can tell their creates apart."""
        self.crashes.update(crashes)
        self.provider.answers.extend(answers)
        self.provider.list_lag = list_lag
        self.provider.instant = instant
        self.provider.create_delay = create_delay
        self.budget = Decimal(budget) if budget is not None else None
        self.store.upsert_batch(
            BATCH, name=BATCH, out_dir=self.folder / "out", budget_usd=self.budget
        )
        new = []
        for index in range(count):
            spec = _spec(index, takes=takes)
            price = self.prices.estimate(spec)
            assert price is not None
            key = f"job-{index}"
            new.append(
                NewJob(key=key, spec=spec, position=index, account=ACCOUNT, estimated_cost=price)
            )
            identifier = job_id(BATCH, key)
            self.ids.append(identifier)
            self.prompts.setdefault(spec.prompt, []).append(identifier)
            self.price[identifier] = price
            self.flows[identifier] = [Workflow(job=identifier)]
            self.create_answers[identifier] = Counter()
        assert self.store.add_jobs(BATCH, new) == count

    # -- the engine ---------------------------------------------------------------------------

    @rule(pick=st.integers(min_value=0, max_value=7), steps=st.integers(1, 6))
    def run_steps(self, pick: int, steps: int) -> None:
        """Run one workflow's next ``steps`` steps, as far as it does not wait."""
        runnable = self._runnable()
        if runnable:
            self._run(runnable[pick % len(runnable)], steps=steps)

    def follow(self, job: str, steps: int = 1) -> None:
        """Run the next ``steps`` steps of the job's (latest) workflow as DBOS would, sleeping
        through the waits it asks for: for scripted runs."""
        self._run(self.flows[job][0], steps=steps, sleep=True)

    @rule()
    def tick(self) -> None:
        """Every workflow that is not waiting runs its next step."""
        for flow in self._runnable():
            if flow.active:
                self._run(flow)

    @rule(pick=st.integers(min_value=0, max_value=3))
    def poke(self, pick: int) -> None:
        """``reelforge poke`` (or a webhook): a job's waiting workflows check now."""
        for flow in self.flows[self.ids[pick % len(self.ids)]]:
            flow.ready_at = 0.0

    @rule(point=st.sampled_from(CrashPoint), restart=st.booleans())
    def arm_crash(self, point: CrashPoint, restart: bool) -> None:
        """The next step to reach ``point`` dies there (and maybe a new process starts)."""
        self.crashes[point] = restart

    @rule()
    def restart(self) -> None:
        self._restart()

    @rule()
    def watchdog(self) -> None:
        """``Engine.wait`` starts a workflow that ended in error (or was canceled, its job not)
        again, a few times."""
        for job in self.ids:
            if (
                self.flows[job][0].step in _STOPPED
                and self.store.get_job(job).state in STARTED
                and self.restarts.get(job, 0) < MAX_WATCHDOG_RESTARTS
            ):
                self.restarts[job] = self.restarts.get(job, 0) + 1
                self.flows[job][0] = Workflow(job=job)

    @rule(
        pick=st.integers(min_value=0, max_value=3),
        from_start=st.booleans(),
        steps=st.integers(min_value=0, max_value=4),
        reverse=st.booleans(),
    )
    def second_owner(self, pick: int, from_start: bool, steps: int, reverse: bool) -> None:
        """A second run of a job's workflow starts while the first still runs (a recovered
        copy), from its first step or from where the first one is; both may run at once."""
        alone = [job for job in self.ids if len(self.flows[job]) == 1 and self.flows[job][0].active]
        if alone:
            job = alone[pick % len(alone)]
            first = self.flows[job][0]
            second = Workflow(job=job) if from_start else replace(first)
            self.flows[job].append(second)
            _note("a second owner starts")
            if steps:
                self.owners_at_once(pick=self.ids.index(job), steps=steps, reverse=reverse)

    @rule(
        pick=st.integers(min_value=0, max_value=3),
        steps=st.integers(min_value=1, max_value=4),
        reverse=st.booleans(),
    )
    def owners_at_once(self, pick: int, steps: int, reverse: bool) -> None:
        """Both owners of a job run their next ``steps`` steps at once, each sleeping through
        the waits it asks for, interleaving at every provider call (one or the other first)."""
        flows = [flow for flow in self.flows[self.ids[pick % len(self.ids)]] if flow.active]
        if len(flows) > 1:
            self._run(*(reversed(flows) if reverse else flows), steps=steps, sleep=True)
            _note("two owners run at once")

    @rule(seconds=st.sampled_from(CLOCK_STEPS))
    def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # -- the user -----------------------------------------------------------------------------

    @rule(pick=st.integers(min_value=0, max_value=7))
    def cancel(self, pick: int) -> None:
        """``reelforge cancel`` on a job sent to the provider, or now and then on any job (a
        cancel ends a job's story, so it comes mostly once there is one to tell)."""
        rows = self.store.jobs(BATCH)
        sent = [row for row in rows if row.remote_id is not None or row.state is S.SUBMITTING]
        chosen = sent or (rows if pick == 0 else [])
        if chosen:
            self._cancel(chosen[pick % len(chosen)].id)

    @rule(pick=st.integers(min_value=0, max_value=3), steps=st.integers(min_value=0, max_value=2))
    def cancel_racing_completion(self, pick: int, steps: int) -> None:
        """The provider completes a job its workflow polls, and ``reelforge cancel`` comes
        before the next poll, or (``steps``) while the workflow runs its next steps."""
        polling = self.store.jobs(BATCH, states=[S.QUEUED, S.IN_PROGRESS])
        if polling:
            row = polling[pick % len(polling)]
            assert row.remote_id is not None
            self.provider.complete(row.remote_id)
            self._cancel(row.id, steps=steps)

    @rule(pick=st.integers(min_value=0, max_value=3), steps=st.integers(min_value=1, max_value=2))
    def cancel_while_running(self, pick: int, steps: int) -> None:
        """``reelforge cancel`` while the workflow of a job being sent or polled runs its
        next ``steps`` steps."""
        running = [job for job in self.ids if self.flows[job][0].step in (Step.SUBMIT, Step.POLL)]
        if running:
            self._cancel(running[pick % len(running)], steps=steps)

    def _cancel(self, job: str, *, steps: int = 0) -> None:
        """``cancel_jobs`` on the job's row as read now, while its latest workflow runs its
        next ``steps`` steps; check what it did against what it says it did."""
        row = self.store.get_job(job)
        deletes, stops = len(self.provider.deletes), len(self.control.canceled)
        command = cancel_jobs(
            self.store, self.control, [row], provider=self.provider, account=ACCOUNT
        )
        flow = self.flows[job][0]
        if steps and flow.active:
            results = self._run(flow, steps=steps, beside=command)
            _note("a cancel while the workflow runs")
        else:
            results = self.clock.run(command)
        assert results is not None
        [result] = results
        _note(f"cancel: {result.outcome.value}")
        now = self.store.get_job(job)
        deleted = self.provider.deletes[deletes:]
        stopped = self.control.canceled[stops:]
        remote = self.provider.jobs.get(now.remote_id) if now.remote_id else None
        if result.outcome is CancelOutcome.CANCELED:
            assert now.state is S.CANCELED
            assert stopped == [job]
            assert not any(flow.active for flow in self.flows[job]), f"{job} still runs"
            assert deleted == ([now.remote_id] if now.remote_id else [])
            assert remote is None or remote.deleted_from is not RemoteState.COMPLETED
        elif result.outcome is CancelOutcome.COMPLETED:
            assert remote is not None
            assert remote.was_completed
            assert now.state in (S.COMPLETED, S.DOWNLOADING, S.DONE, S.FAILED)
            assert stopped == []
            assert deleted == []
            self.kept.add(job)
        else:
            assert deleted == []
            if result.outcome is CancelOutcome.ALREADY_ENDED:
                assert now.state in FINAL
            elif stopped:
                _note("a cancel stops the workflow, then refuses (the job moved meanwhile)")

    @rule(pick=st.integers(min_value=0, max_value=3))
    def retry_download(self, pick: int) -> None:
        """``reelforge retry`` on a job whose download failed for good: it downloads again."""
        failed = [
            row
            for row in self.store.jobs(BATCH, states=[S.FAILED])
            if row.category is ErrorCategory.DOWNLOAD
        ]
        if failed:
            self._retry_download(failed[pick % len(failed)].id)

    def _retry_download(self, job: str) -> None:
        row = self.store.get_job(job)
        creates = len(self.provider.create_calls)
        assert self.store.retry(job)
        again = self.store.get_job(job)
        assert again.state is S.COMPLETED
        assert again.remote_id == row.remote_id
        assert len(self.provider.create_calls) == creates
        # Engine.retry resumes the job with a new download workflow.
        self.flows[job][0] = Workflow(job=job, step=Step.DOWNLOAD)

    # -- the provider -------------------------------------------------------------------------

    @rule(answer=st.sampled_from(ANSWERS))
    def answer_a_create(self, answer: CreateAnswer) -> None:
        """How the provider answers a coming create (answers queue up, oldest first)."""
        self.provider.answers.append(answer)

    @rule(fault=st.sampled_from(FAULTS))
    def inject_fault(self, fault: Fault) -> None:
        """A coming status check, listing or download fails."""
        self.provider.faults.append(fault)

    @rule(count=st.sampled_from(UNUSABLE_RUNS), listing=st.booleans())
    def unusable_answers(self, count: int, listing: bool) -> None:
        """The next ``count`` status checks (or listings) get answers that are not the
        protocol."""
        self.provider.faults.extend(
            [Fault.LIST_MALFORMED if listing else Fault.FETCH_MALFORMED] * count
        )

    @rule(can_list=st.booleans())
    def set_listing(self, can_list: bool) -> None:
        self.provider.can_list = can_list

    @rule(pick=st.integers(min_value=0, max_value=7), move=st.sampled_from(MOVES))
    def move_remote(self, pick: int, move: RemoteMove) -> None:
        """The provider moves one of the jobs it created along (or ends it)."""
        creates = self.provider.creates
        if not creates:
            return
        remote_id = creates[pick % len(creates)].remote_id
        if move is RemoteMove.START:
            self.provider.start(remote_id, 10 + 11 * pick)
        elif move is RemoteMove.COMPLETE:
            self.provider.complete(remote_id)
        elif move is RemoteMove.FAIL:
            self.provider.fail(remote_id, ErrorCategory.GENERATION_FAILED)
        elif move is RemoteMove.REFUSE:
            self.provider.fail(remote_id, ErrorCategory.CONTENT_POLICY)
        elif move is RemoteMove.CANCEL:
            self.provider.cancel(remote_id)
        else:
            self.provider.expire(remote_id)

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def holds(self) -> None:
        """Every invariant, on one reading of the store (reading it once per check is most of
        a run's time)."""
        rows = {row.id: row for row in self.store.jobs(BATCH)}
        self.never_created_twice()
        self.created_jobs_are_never_lost(rows)
        self.remote_ids_are_real_and_right(rows)
        self.done_means_completed_and_on_disk(rows)
        self.completed_jobs_are_never_deleted()
        self.ledger_matches_paid_jobs(rows)

    def never_created_twice(self) -> None:
        """A spec is created at most once per job that has it (creates that provably made
        nothing are not creates)."""
        made = Counter(remote.spec.prompt for remote in self.provider.creates)
        for prompt, count in made.items():
            assert count <= len(self.prompts[prompt]), f"{count} creates for {prompt!r}"
        if all(len(jobs) == 1 for jobs in self.prompts.values()):
            # One job per spec: after a create that made (or will make) something, none is
            # even sent.
            created: set[str] = set()
            for spec, answer in self.provider.create_calls:
                assert spec.prompt not in created, f"a second create for {spec.prompt!r}"
                if answer in CREATING:
                    created.add(spec.prompt)

    def created_jobs_are_never_lost(self, rows: Mapping[str, JobRow]) -> None:
        """Every created job is held by a job, or by a job of its spec still finding out
        (``submitting``) or asking a person (``needs_review``)."""
        held = {row.remote_id for row in rows.values()}
        unheld = Counter(
            remote.spec.prompt for remote in self.provider.creates if remote.remote_id not in held
        )
        for prompt, count in unheld.items():
            owners = [rows[job] for job in self.prompts[prompt]]
            unsure = [job for job in owners if job.state in (S.SUBMITTING, S.NEEDS_REVIEW)]
            assert count <= len(unsure), (
                f"{count} created job(s) for {prompt!r} held by no job; its jobs are "
                f"{', '.join(job.state.value for job in owners)}"
            )

    def remote_ids_are_real_and_right(self, rows: Mapping[str, JobRow]) -> None:
        for job in rows.values():
            if job.state in CREATED:
                assert job.remote_id is not None, f"{job.id} is {job.state.value} without an id"
            if job.remote_id is not None:
                assert self.provider.jobs[job.remote_id].spec.prompt == job.prompt

    def done_means_completed_and_on_disk(self, rows: Mapping[str, JobRow]) -> None:
        """A done job was completed on the provider, and its files and ``job.json`` are on disk
        (checked once: ``done`` is final)."""
        for job in rows.values():
            if job.state is not S.DONE or job.id in self.verified:
                continue
            assert job.remote_id is not None
            assert self.provider.jobs[job.remote_id].was_completed
            recorded = {asset.variant: asset for asset in self.store.assets(job.id)}
            for variant in self.provider.capabilities(job.model).variants:
                asset = recorded[variant]
                data = Path(asset.path).read_bytes()
                assert hashlib.sha256(data).hexdigest() == asset.sha256
                assert asset.sha256 == asset_sha256(job.remote_id, variant)
                assert asset.bytes == len(data)
            record = json.loads((self.folder / "out" / BATCH / job.key / "job.json").read_text())
            assert record["state"] == "done"
            assert record["remote_id"] == job.remote_id
            self.verified.add(job.id)

    def completed_jobs_are_never_deleted(self) -> None:
        """reelforge deletes a job on the provider only if the provider never completed it,
        or its assets have expired (nothing is left to lose)."""
        for remote_id in self.provider.deletes:
            remote = self.provider.jobs[remote_id]
            if remote.was_completed:
                assert remote.deleted_from is RemoteState.EXPIRED, f"{remote_id} deleted"
                _note("a cancel deletes an expired job")

    def ledger_matches_paid_jobs(self, rows: Mapping[str, JobRow]) -> None:
        """Money spent is the price of each done job and each job whose download failed for
        good (it was made); under a budget, money held is the estimate of each admitted job not
        yet settled, and the two stay within it."""
        summary = self.store.batch_summary(BATCH)
        paid = {job.id for job in rows.values() if job.state is S.DONE} | self.paid
        assert summary.actual == sum((self.price[job] for job in paid), Decimal(0))
        if self.budget is not None:
            held = sum(
                (
                    self.price[job.id]
                    for job in rows.values()
                    if job.state in RESERVED and job.id not in paid
                ),
                Decimal(0),
            )
            assert summary.reserved == held
            assert summary.actual + summary.reserved <= self.budget

    # -- the end ------------------------------------------------------------------------------

    def drive_to_end(self) -> None:
        """Without faults, after a restart and a retry of failed downloads, every job's
        workflows return in a final state; a job the provider completed ends done unless its
        assets expired or it stopped for review (never canceled: a cancel comes before the
        completion or keeps the job)."""
        self.crashes.clear()
        self.provider.answers.clear()
        self.provider.faults.clear()
        self._restart()
        for row in self.store.jobs(BATCH, states=[S.FAILED]):
            if row.category is ErrorCategory.DOWNLOAD:
                self._retry_download(row.id)
        for _ in range(MAX_FINAL_ROUNDS):
            live = [flow for job in self.ids for flow in self.flows[job] if flow.active]
            if not live:
                break
            runnable = self._runnable()
            if not runnable:
                self.clock.advance(min(flow.ready_at for flow in live) - self.clock.now())
                continue
            for flow in runnable:
                remote_id = self.store.get_job(flow.job).remote_id
                remote = self.provider.jobs.get(remote_id) if remote_id else None
                if remote is not None and remote.state in (
                    RemoteState.QUEUED,
                    RemoteState.IN_PROGRESS,
                ):
                    self.provider.complete(remote.remote_id)
                if flow.active:
                    self._run(flow)
        for job in self.ids:
            row = self.store.get_job(job)
            steps = ", ".join(flow.step.value for flow in self.flows[job])
            assert row.state in FINAL, f"{job} is {row.state.value}, its workflows at {steps}"
            assert not any(flow.active for flow in self.flows[job])
            _note(f"a job ends {row.state.value}")
            remote = self.provider.jobs.get(row.remote_id) if row.remote_id else None
            if remote is not None and remote.was_completed:
                # Done, unless it stopped for review, or its assets expired before the download
                # (failed) or the cancel (its remote id deleted, nothing left to download).
                stopped = row.state is S.NEEDS_REVIEW and row.category in STOPPED_LOOKING
                gone = RemoteState.EXPIRED in (remote.state, remote.deleted_from)
                lost = row.category is ErrorCategory.EXPIRED or row.state is S.CANCELED
                assert row.state is S.DONE or stopped or (gone and lost), (
                    f"{job} ends {row.state.value} ({row.category}) though the provider "
                    "completed it"
                )
            if job in self.kept:
                assert row.state is S.DONE or row.category is ErrorCategory.EXPIRED
        self.check_all()

    def check_all(self) -> None:
        """Every invariant, for scripted runs and the end of a run (done jobs checked again)."""
        self.verified.clear()
        self.holds()

    def teardown(self) -> None:
        try:
            # Only a run that has not already failed is driven to its end: a second failure
            # would hide the first from the report and from shrinking.
            if sys.exc_info()[0] is None and self.ids:
                self.drive_to_end()
        finally:
            set_crash_handler(None)
            uninstall()
            self.store.close()
            shutil.rmtree(self.folder, ignore_errors=True)


JobLifeCycle.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,
    # No "explain" phase: its line tracer makes shrinking a failure many times slower.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
test_job_life_cycle = JobLifeCycle.TestCase


def test_a_job_past_its_poll_timeout_goes_to_review_with_its_remote_id() -> None:
    machine = JobLifeCycle()
    try:
        machine.plan(
            count=1,
            budget=None,
            crashes={},
            answers=[],
            list_lag=0.0,
            instant=False,
            takes=False,
            create_delay=CREATE_DELAYS[0],
        )
        machine.run_steps(pick=0, steps=2)  # admit, submit: queued on the provider
        machine.advance_clock(POLL.timeout + 1)
        machine.run_steps(pick=0, steps=1)  # the check after the timeout

        job = machine.store.get_job(machine.ids[0])
        assert job.state is S.NEEDS_REVIEW
        assert job.category is ErrorCategory.TIMEOUT
        assert job.remote_id == machine.provider.creates[0].remote_id
        assert machine.flows[job.id][0].step is Step.END
    finally:
        machine.teardown()


@pytest.mark.parametrize("restart", [False, True], ids=["same-process", "new-process"])
@pytest.mark.parametrize("point", list(CrashPoint))
def test_a_crash_at_every_point_loses_nothing(point: CrashPoint, restart: bool) -> None:
    """Every crash point, whichever the random runs happen to reach: it fires, its step runs
    again, and both jobs end done with every invariant holding."""
    machine = JobLifeCycle()
    try:
        machine.plan(
            count=2,
            budget="2.00",
            crashes={point: restart},
            answers=[],
            list_lag=0.0,
            instant=False,
            takes=False,
            create_delay=CREATE_DELAYS[0],
        )
        for _ in range(10):
            machine.tick()
            machine.check_all()
            for remote in machine.provider.creates:
                machine.provider.complete(remote.remote_id)
            if point not in machine.crashes:
                break
        assert point not in machine.crashes, f"{point.value} was never reached"
        machine.drive_to_end()
        assert {machine.store.get_job(job).state for job in machine.ids} == {S.DONE}
    finally:
        machine.teardown()


def test_the_fake_provider_has_the_provider_interface() -> None:
    assert isinstance(FakeProvider(FakeClock()), Provider)
