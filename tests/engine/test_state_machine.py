"""The job state machine under random interleavings of steps, crashes, restarts, time and a
provider that answers in every way the protocol allows.

The real step bodies (:mod:`reelforge.engine.logic`) run against a real SQLite store, in the
order the job workflow calls them. DBOS is left out and replaced by what it promises: a step
whose result was not recorded (it crashed) runs again, one whose result was recorded never
does, and a workflow that ended in an error is started again from its first step (by the
engine's watchdog, or by the next ``reelforge run``). The fake provider's own records are the
ground truth for "created once", "never lost" and "completed before it was done".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Coroutine
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from fakes import CreateAnswer, FakeClock, FakeProvider, Fault, asset_sha256
from hypothesis import Phase, currently_in_test_context, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from reelforge.core.errors import DownloadError, ErrorCategory, ProviderError
from reelforge.core.models import JobSpec, JobState, RemoteState
from reelforge.core.polling import PollPolicy
from reelforge.core.pricing import default_prices
from reelforge.engine import logic
from reelforge.engine.context import EngineContext, install, uninstall
from reelforge.engine.crash import CrashPoint, set_crash_handler
from reelforge.engine.logic import Result
from reelforge.engine.outcome import FINAL
from reelforge.engine.reconcile import ReconcilePolicy
from reelforge.providers.base import Provider
from reelforge.store import NewJob, Store, job_id

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
MAX_WATCHDOG_RESTARTS = 3
MAX_FINAL_ROUNDS = 40
POLL = PollPolicy()
RECONCILE = ReconcilePolicy()

CLOCK_STEPS = (1.0, 3.0, 11.0, 130.0, POLL.timeout + 400.0)
"""Seconds the clock may jump: past the listing lag (30 s), the resend window (120 s), and
the poll timeout (a running job then goes to review with its remote id)."""

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


_BODIES: dict[Step, Callable[[str], Coroutine[Any, Any, Result]]] = {
    Step.ADMIT: logic.admit,
    Step.SUBMIT: logic.submit,
    Step.POLL: logic.poll,
    Step.DOWNLOAD: logic.download,
}


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
        self.ids: list[str] = []
        self.prompts: dict[str, list[str]] = {}
        """Prompt → the ids of the jobs with that prompt."""
        self.price: dict[str, Decimal] = {}
        self.step: dict[str, Step] = {}
        self.restarts: dict[str, int] = {}
        """Watchdog restarts per job in this process (the engine keeps them in memory)."""
        self.budget: Decimal | None = None
        self.crashes: dict[CrashPoint, bool] = {}
        """Armed crash points, each with whether a new process starts after it fires."""
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
            raise _Crash(point.value)

    def _active(self) -> list[str]:
        return [job for job in self.ids if self.step[job] not in (Step.END, Step.ERROR)]

    def _run(self, job: str) -> float:
        """Run the job's next step; return the wait it asked for."""
        step = self.step[job]
        try:
            result = asyncio.run(_BODIES[step](job))
        except _Crash as crash:
            # Not recorded: DBOS runs this step again on recovery.
            if self.crashes.pop(CrashPoint(str(crash))):
                self._restart()
            return 0.0
        except (ProviderError, DownloadError) as exc:
            if not any(exc is raised for raised in self.provider.raised):
                raise  # only an injected fault may end a workflow in error
            _note(f"workflow error in {step.value}")
            self.step[job] = Step.ERROR
            return 0.0
        self.step[job] = _next_step(step, JobState(result["state"]))
        return float(result.get("wait", 0.0))

    def _restart(self) -> None:
        """A new process: a new context over the same file, and ``reelforge run`` resuming
        the batch (every unfinished job whose workflow ended in error starts again)."""
        self.store.close()
        self.store = Store(self.url, now=self.clock.now)
        install(self._context())
        self.restarts.clear()
        for job in self.ids:
            if self.step[job] is Step.ERROR and self.store.get_job(job).state not in FINAL:
                self.step[job] = Step.ADMIT

    # -- set-up -------------------------------------------------------------------------------

    @initialize(
        count=st.integers(min_value=1, max_value=4),
        budget=st.sampled_from([None, None, None, "1.00", "2.00"]),
        crashes=st.dictionaries(st.sampled_from(CrashPoint), st.booleans(), max_size=3),
        answers=st.lists(st.sampled_from(CreateAnswer), max_size=3),
        list_lag=st.sampled_from([0.0, 0.0, RECONCILE.listing_lag / 2]),
        instant=st.sampled_from([False, False, False, True]),
        takes=st.sampled_from([False, False, True]),
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
    ) -> None:
        """The batch, and the first faults: crash points armed, answers to the first creates,
        a listing that lags behind creates (by less than the grace period), and maybe a
        provider that creates jobs already completed. With ``takes`` every job has the same
        spec (several takes of one prompt), so only the store can tell their creates apart."""
        self.crashes.update(crashes)
        self.provider.answers.extend(answers)
        self.provider.list_lag = list_lag
        self.provider.instant = instant
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
            self.step[identifier] = Step.ADMIT
        assert self.store.add_jobs(BATCH, new) == count

    # -- the engine ---------------------------------------------------------------------------

    @rule(pick=st.integers(min_value=0, max_value=3), steps=st.integers(1, 4))
    def run_steps(self, pick: int, steps: int) -> None:
        """Run one job's next ``steps`` steps, as its workflow would."""
        active = self._active()
        if active:
            job = active[pick % len(active)]
            for _ in range(steps):
                if self.step[job] not in (Step.END, Step.ERROR):
                    self._run(job)

    @rule()
    def tick(self) -> None:
        """Every unfinished workflow runs its next step."""
        for job in self._active():
            self._run(job)

    @rule(point=st.sampled_from(CrashPoint), restart=st.booleans())
    def arm_crash(self, point: CrashPoint, restart: bool) -> None:
        """The next step to reach ``point`` dies there (and maybe a new process starts)."""
        self.crashes[point] = restart

    @rule()
    def restart(self) -> None:
        self._restart()

    @rule()
    def watchdog(self) -> None:
        """``Engine.wait`` starts a workflow that ended in error again, a few times."""
        for job in self.ids:
            if (
                self.step[job] is Step.ERROR
                and self.store.get_job(job).state in STARTED
                and self.restarts.get(job, 0) < MAX_WATCHDOG_RESTARTS
            ):
                self.restarts[job] = self.restarts.get(job, 0) + 1
                self.step[job] = Step.ADMIT

    @rule(seconds=st.sampled_from(CLOCK_STEPS))
    def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # -- the provider -------------------------------------------------------------------------

    @rule(answer=st.sampled_from(CreateAnswer))
    def answer_a_create(self, answer: CreateAnswer) -> None:
        """How the provider answers a coming create (answers queue up, oldest first)."""
        self.provider.answers.append(answer)

    @rule(fault=st.sampled_from(Fault))
    def inject_fault(self, fault: Fault) -> None:
        """A coming status check, listing or download fails."""
        self.provider.faults.append(fault)

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
    def never_created_twice(self) -> None:
        """A spec is created at most once per job that has it (creates that provably made
        nothing are not creates)."""
        made = Counter(remote.spec.prompt for remote in self.provider.creates)
        for prompt, count in made.items():
            assert count <= len(self.prompts[prompt]), f"{count} creates for {prompt!r}"
        if all(len(jobs) == 1 for jobs in self.prompts.values()):
            # One job per spec: after a create that made something, none is even sent.
            created: set[str] = set()
            for spec, answer in self.provider.create_calls:
                assert spec.prompt not in created, f"a second create for {spec.prompt!r}"
                if answer in (CreateAnswer.SUCCEED, CreateAnswer.AMBIGUOUS_CREATED):
                    created.add(spec.prompt)

    @invariant()
    def created_jobs_are_never_lost(self) -> None:
        """Every created job is held by a job, or by a job of its spec still finding out
        (``submitting``) or asking a person (``needs_review``)."""
        unheld = Counter(
            remote.spec.prompt
            for remote in self.provider.creates
            if self.store.find_by_remote_id(remote.remote_id) is None
        )
        for prompt, count in unheld.items():
            owners = [self.store.get_job(job) for job in self.prompts[prompt]]
            unsure = [job for job in owners if job.state in (S.SUBMITTING, S.NEEDS_REVIEW)]
            assert count <= len(unsure), (
                f"{count} created job(s) for {prompt!r} held by no job; its jobs are "
                f"{', '.join(job.state.value for job in owners)}"
            )

    @invariant()
    def remote_ids_are_real_and_right(self) -> None:
        for job in self.store.jobs(BATCH):
            if job.state in CREATED:
                assert job.remote_id is not None, f"{job.id} is {job.state.value} without an id"
            if job.remote_id is not None:
                assert self.provider.jobs[job.remote_id].spec.prompt == job.prompt

    @invariant()
    def done_means_completed_and_on_disk(self) -> None:
        for job in self.store.jobs(BATCH, states=[S.DONE]):
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

    @invariant()
    def ledger_matches_done_jobs(self) -> None:
        """Money spent is the price of each done job; under a budget, money held is the
        estimate of each admitted job not yet settled, and the two stay within it."""
        jobs = self.store.jobs(BATCH)
        summary = self.store.batch_summary(BATCH)
        done = sum((self.price[job.id] for job in jobs if job.state is S.DONE), Decimal(0))
        assert summary.actual == done
        if self.budget is not None:
            held = sum((self.price[job.id] for job in jobs if job.state in RESERVED), Decimal(0))
            assert summary.reserved == held
            assert summary.actual + summary.reserved <= self.budget

    # -- the end ------------------------------------------------------------------------------

    def drive_to_end(self) -> None:
        """Without faults, after a restart, every job's workflow returns in a final state."""
        self.crashes.clear()
        self.provider.answers.clear()
        self.provider.faults.clear()
        self._restart()
        for _ in range(MAX_FINAL_ROUNDS):
            active = self._active()
            if not active:
                break
            for job in active:
                remote_id = self.store.get_job(job).remote_id
                remote = self.provider.jobs.get(remote_id) if remote_id else None
                if remote is not None and remote.state in (
                    RemoteState.QUEUED,
                    RemoteState.IN_PROGRESS,
                ):
                    self.provider.complete(remote.remote_id)
                self.clock.advance(self._run(job))
        for job in self.ids:
            row = self.store.get_job(job)
            assert row.state in FINAL, (
                f"{job} is {row.state.value}, its workflow at {self.step[job].value}"
            )
            assert self.step[job] in (Step.END, Step.ERROR)
            _note(f"a job ends {row.state.value}")
        self.check_all()

    def check_all(self) -> None:
        """Every invariant, for scripted runs and the end of a run."""
        self.never_created_twice()
        self.created_jobs_are_never_lost()
        self.remote_ids_are_real_and_right()
        self.done_means_completed_and_on_disk()
        self.ledger_matches_done_jobs()

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
    max_examples=80,
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
            count=1, budget=None, crashes={}, answers=[], list_lag=0.0, instant=False, takes=False
        )
        machine.run_steps(pick=0, steps=2)  # admit, submit: queued on the provider
        machine.advance_clock(POLL.timeout + 1)
        machine.run_steps(pick=0, steps=1)  # the check after the timeout

        job = machine.store.get_job(machine.ids[0])
        assert job.state is S.NEEDS_REVIEW
        assert job.category is ErrorCategory.TIMEOUT
        assert job.remote_id == machine.provider.creates[0].remote_id
        assert machine.step[job.id] is Step.END
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
