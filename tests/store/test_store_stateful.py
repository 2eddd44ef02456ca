"""Random sequences of operations against the life cycle: the store never reaches a state the
table does not allow, and a job's events always replay to its row."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from store_helpers import new_jobs

from reelforge.core.models import JobState
from reelforge.store import (
    EDGES,
    RETRYABLE,
    TERMINAL,
    EventKind,
    IllegalTransitionError,
    Store,
    job_id,
)

S = JobState
CREATED = {S.QUEUED, S.IN_PROGRESS, S.COMPLETED, S.DOWNLOADING, S.DONE}
_TEMPLATE: Path | None = None


def _template() -> Path:
    """A migrated database with one pending job, made once and copied for every example."""
    global _TEMPLATE  # noqa: PLW0603  # a per-session cache; migrating per example is slow
    if _TEMPLATE is None:
        folder = Path(tempfile.mkdtemp(prefix="reelforge-template-"))
        with Store.for_path(folder / "template.db") as store:
            store.migrate()
            store.upsert_batch("b", name="B", out_dir="out")
            store.add_jobs("b", new_jobs(1))
        _TEMPLATE = folder / "template.db"
    return _TEMPLATE


class LifeCycle(RuleBasedStateMachine):
    """A model of one job beside the real store."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="reelforge-stateful-"))
        shutil.copy(_template(), self.folder / "store.db")
        self.store = Store.for_path(self.folder / "store.db")
        self.job = job_id("b", "job-0")
        self.state = S.PENDING
        self.token: str | None = None
        self.remote_id: str | None = None
        self.tokens: list[str] = []
        self.counter = 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _fenced(self, to: JobState) -> bool:
        return (
            to is S.SUBMITTING
            or (to in CREATED and self.remote_id is None)
            or (self.state is S.SUBMITTING and to is S.WAITING)
        )

    @rule(to=st.sampled_from(JobState), expect=st.none() | st.sets(st.sampled_from(JobState)))
    def transition(self, to: JobState, expect: set[JobState] | None) -> None:
        if (expect is not None and self.state not in expect) or self.state == to:
            assert self.store.transition(self.job, to, expect=expect) is False
        elif to not in EDGES[self.state] or self._fenced(to):
            try:
                self.store.transition(self.job, to, expect=expect)
            except IllegalTransitionError:
                pass
            else:
                raise AssertionError(f"{self.state} -> {to} was allowed")
        else:
            assert self.store.transition(self.job, to, expect=expect) is True
            self.state = to

    @rule(data=st.data())
    def move_along(self, data: st.DataObject) -> None:
        """Take a legal, unfenced, non-final edge (random ones end in a final state too soon)."""
        targets = sorted(
            to
            for to in EDGES[self.state]
            if not self._fenced(to) and to not in {S.REJECTED, S.CANCELED}
        )
        if targets:
            self.transition(data.draw(st.sampled_from(targets)), None)

    @rule()
    def record_intent(self) -> None:
        if self.state is S.WAITING:
            self.token = self.store.record_intent(self.job)
            self.tokens.append(self.token)
            self.state = S.SUBMITTING
        else:
            try:
                self.store.record_intent(self.job)
            except IllegalTransitionError:
                pass
            else:
                raise AssertionError(f"an intent was recorded in {self.state}")

    @rule(
        stale=st.booleans(),
        to=st.sampled_from([S.QUEUED, S.IN_PROGRESS, S.COMPLETED, S.FAILED]),
    )
    def record_remote_id(self, stale: bool, to: JobState) -> None:
        token = self.tokens[0] if stale and self.tokens else self.token
        if token is None:
            return
        self.counter += 1
        remote_id = f"video_{self.counter}"
        applies = (
            token == self.token
            and self.remote_id is None
            and self.state in {S.SUBMITTING, S.NEEDS_REVIEW}
        )
        if applies:
            assert self.store.record_remote_id(self.job, token, remote_id, state=to)
            self.remote_id, self.state = remote_id, to
        else:
            assert not self.store.record_remote_id(self.job, token, remote_id, state=to)

    @rule()
    def clear_intent(self) -> None:
        if self.token is None:
            return
        applies = self.state is S.SUBMITTING and self.remote_id is None
        assert self.store.clear_intent(self.job, self.token) is applies
        if applies:
            self.state, self.token = S.WAITING, None

    @rule()
    def retry(self) -> None:
        if self.state is S.WAITING:
            assert self.store.retry(self.job) is False
        elif self.state in RETRYABLE:
            assert self.store.retry(self.job) is True
            self.state, self.token, self.remote_id = S.WAITING, None, None
        else:
            try:
                self.store.retry(self.job)
            except IllegalTransitionError:
                pass
            else:
                raise AssertionError(f"retry from {self.state} was allowed")

    @precondition(lambda self: self.state in {S.QUEUED, S.IN_PROGRESS})
    @rule(progress=st.integers(0, 100))
    def record_progress(self, progress: int) -> None:
        before = self.store.get_job(self.job)
        changed = self.store.record_progress(self.job, S.IN_PROGRESS, progress)
        assert changed is (before.state is not S.IN_PROGRESS or before.progress != progress)
        self.state = S.IN_PROGRESS

    @invariant()
    def row_matches_the_model(self) -> None:
        row = self.store.get_job(self.job)
        assert row.state is self.state
        assert row.remote_id == self.remote_id
        assert row.intent_token == self.token or self.token is None
        if row.state in CREATED:
            assert row.remote_id is not None

    @invariant()
    def events_replay_to_the_row(self) -> None:
        history = self.store.history(self.job)
        state = None
        for event in history:
            if event.state is None or event.kind in {EventKind.ASSET, EventKind.COST}:
                continue
            if state is not None and event.state != state:
                legal = event.state in EDGES[state] or (
                    event.data.get("retry") is True and state in RETRYABLE
                )
                assert legal, f"{state} -> {event.state} in the history"
                assert state not in TERMINAL
            state = event.state
        assert state is self.state
        assert [e.id for e in history] == sorted(e.id for e in history)


TestLifeCycle = LifeCycle.TestCase
TestLifeCycle.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
