"""Scripted runs of the job life cycle machine (:mod:`test_state_machine`): one scenario each,
step by step, with every invariant checked at the end.

The random runs reach these only by luck: a slow create killed while in the air, two owners of
one slow create, a create that goes on behind a 504, a cancel racing the provider's completion
(or reading a row that is stale by its turn), a download that fails for good and is retried,
and unusable answers that stop a job.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from fakes import CreateAnswer, Fault
from test_state_machine import ACCOUNT, BATCH, CREATE_DELAYS, RECONCILE, JobLifeCycle, S, Step

from reelforge.core.errors import ErrorCategory
from reelforge.engine import logic
from reelforge.engine.control import CancelOutcome, cancel_jobs
from reelforge.engine.crash import CrashPoint
from reelforge.store import EventKind

MAX_STEPS = 60


@contextmanager
def running(**plan: Any) -> Iterator[JobLifeCycle]:
    """A machine with one job planned (or as ``plan`` says), driven to its end afterwards
    unless the scenario failed."""
    machine = JobLifeCycle()
    try:
        machine.plan(
            **{
                "count": 1,
                "budget": "1.00",
                "crashes": {},
                "answers": [],
                "list_lag": 0.0,
                "instant": False,
                "takes": False,
                "create_delay": CREATE_DELAYS[0],
                **plan,
            }
        )
        yield machine
    finally:
        machine.teardown()


def submit_until_sent(machine: JobLifeCycle, job: str) -> list[float]:
    """Follow the job's workflow through its submit steps, sleeping through each wait it asks
    for; return the clock at each step."""
    times = []
    while machine.flows[job][0].step is Step.SUBMIT:
        assert len(times) < MAX_STEPS, "the submit steps never end"
        machine.follow(job)
        times.append(machine.clock.now())
    return times


def notes(machine: JobLifeCycle, job: str) -> list[str]:
    return [
        str(entry.data.get("message"))
        for entry in machine.store.history(job)
        if entry.kind is EventKind.NOTE
    ]


def resubmits(machine: JobLifeCycle, job: str) -> int:
    return sum(
        entry.kind is EventKind.NOTE and entry.data.get("decision") == "resubmit"
        for entry in machine.store.history(job)
    )


# -- slow creates -----------------------------------------------------------------------------


@pytest.mark.parametrize("list_lag", [0.0, RECONCILE.listing_lag / 2], ids=["listed", "lagging"])
@pytest.mark.parametrize("delay", CREATE_DELAYS, ids=lambda d: f"made-after-{d:g}s")
def test_a_slow_create_killed_in_the_air_is_adopted_once(delay: float, list_lag: float) -> None:
    """The create reaches the provider and the process dies before any answer; the provider
    makes the job later. The resumed workflow lists until the job shows, before its
    ``resend_after``, and adopts it: one create, never sent again."""
    with running(
        crashes={CrashPoint.AFTER_POST_SENT: True},
        answers=[CreateAnswer.SLOW],
        list_lag=list_lag,
        create_delay=delay,
    ) as machine:
        [job] = machine.ids
        machine.follow(job, steps=2)  # admit; submit dies with the request in the air
        row = machine.store.get_job(job)
        assert row.state is S.SUBMITTING
        assert row.intent_at is not None
        assert row.resend_after is not None
        assert machine.provider.creates == []  # not made yet
        assert CrashPoint.AFTER_POST_SENT not in machine.crashes

        times = submit_until_sent(machine, job)

        [made] = machine.provider.creates
        adopted = machine.store.get_job(job)
        assert adopted.remote_id == made.remote_id
        assert made.created_at == row.intent_at + delay
        visible = made.created_at + list_lag
        assert times[-1] >= visible
        assert times[-1] < visible + 5.0 + 0.01  # at the first look after it shows
        assert times[-1] < row.resend_after
        assert len(machine.provider.create_calls) == 1
        assert resubmits(machine, job) == 0
        assert f"reconciled: adopted {made.remote_id}" in notes(machine, job)

        machine.drive_to_end()
        assert machine.store.get_job(job).state is S.DONE
        assert len(machine.provider.create_calls) == 1


@pytest.mark.parametrize("delay", CREATE_DELAYS, ids=lambda d: f"made-after-{d:g}s")
def test_a_slow_create_the_engine_gives_up_on_is_adopted_once(delay: float) -> None:
    """No answer comes: the engine abandons the create after ``create_timeout`` (on the
    clock, no real waiting), reconciles and finds the job made meanwhile."""
    with running(answers=[CreateAnswer.SLOW], create_delay=delay) as machine:
        [job] = machine.ids
        machine.follow(job)  # admit
        start = machine.clock.now()
        times = submit_until_sent(machine, job)

        assert times[0] - start == pytest.approx(RECONCILE.create_timeout, abs=0.01)
        [made] = machine.provider.creates
        assert machine.store.get_job(job).remote_id == made.remote_id
        assert len(times) == 1  # made before the engine gave up: adopted at once
        assert len(machine.provider.create_calls) == 1
        assert any(note.startswith("create outcome unknown") for note in notes(machine, job))


def test_two_owners_of_a_slow_create_adopt_it_once() -> None:
    """A second owner of the job's workflow (a recovered copy) runs while the first one's
    create is in the air: it lists every few seconds, adopts the job once it shows, and the
    first one, giving up on its create, adopts the same job. Nothing is sent twice."""
    with running(answers=[CreateAnswer.SLOW], create_delay=RECONCILE.listing_lag + 10) as machine:
        [job] = machine.ids
        machine.follow(job)  # admit
        machine.second_owner(pick=0, from_start=False, steps=0, reverse=False)
        machine.owners_at_once(pick=0, steps=12, reverse=False)

        [made] = machine.provider.creates
        row = machine.store.get_job(job)
        assert row.remote_id == made.remote_id
        assert row.state is S.QUEUED
        assert [flow.step for flow in machine.flows[job]] == [Step.POLL, Step.POLL]
        assert notes(machine, job).count(f"reconciled: adopted {made.remote_id}") == 2
        assert len(machine.provider.create_calls) == 1


@pytest.mark.parametrize(
    "answer", [CreateAnswer.SLOW_GATEWAY, CreateAnswer.SLOW_DROPPED], ids=["504", "dropped"]
)
def test_a_create_that_goes_on_behind_a_failed_answer_is_adopted_once(
    answer: CreateAnswer,
) -> None:
    """A gateway answers 504 (or the connection drops) at once while the request goes on and
    the provider makes the job 40 s later: the 5xx does not bring the resend forward, so the
    job shows before ``resend_after`` and is adopted, never created twice."""
    with running(answers=[answer], create_delay=RECONCILE.listing_lag + 10) as machine:
        [job] = machine.ids
        machine.follow(job)  # admit
        times = submit_until_sent(machine, job)

        [made] = machine.provider.creates
        row = machine.store.get_job(job)
        assert row.remote_id == made.remote_id
        assert row.resend_after is not None
        assert times[-1] < row.resend_after
        assert row.resend_after == pytest.approx(row.intent_at + RECONCILE.window)
        assert len(machine.provider.create_calls) == 1
        assert resubmits(machine, job) == 0


def test_an_accepted_create_with_an_unreadable_answer_is_looked_for_sooner() -> None:
    """A 200 whose body is not the protocol: the create was accepted, so only the listing's
    lag stands between the engine and the job; ``resend_after`` comes forward to then."""
    with running(answers=[CreateAnswer.UNREADABLE], list_lag=RECONCILE.listing_lag / 2) as machine:
        [job] = machine.ids
        machine.follow(job)  # admit
        start = machine.clock.now()
        submit_until_sent(machine, job)

        row = machine.store.get_job(job)
        assert row.remote_id == machine.provider.creates[0].remote_id
        assert row.resend_after == pytest.approx(start + RECONCILE.listing_lag)
        assert len(machine.provider.create_calls) == 1


# -- cancels ----------------------------------------------------------------------------------


def test_a_cancel_racing_a_completion_keeps_and_downloads_the_job() -> None:
    """The provider has completed the job; its workflow has not polled yet when the user
    cancels. The cancel finds it completed: kept (outcome ``completed``), not deleted, its
    workflow not stopped; the next poll sees it completed, it is downloaded and charged."""
    with running() as machine:
        [job] = machine.ids
        machine.follow(job, steps=2)  # admit, submit: queued
        remote_id = machine.store.get_job(job).remote_id
        assert remote_id is not None

        machine.cancel_racing_completion(pick=0, steps=0)

        assert machine.kept == {job}
        assert machine.store.get_job(job).state is S.COMPLETED
        assert machine.provider.deletes == []
        assert machine.control.canceled == []
        assert machine.flows[job][0].step is Step.POLL
        machine.follow(job, steps=2)  # poll: completed; download
        row = machine.store.get_job(job)
        assert row.state is S.DONE
        assert machine.store.batch_summary(BATCH).actual == machine.price[job]
        assert len(machine.provider.create_calls) == 1


def test_a_cancel_before_the_completion_stops_the_workflow_and_deletes_the_job() -> None:
    with running() as machine:
        [job] = machine.ids
        machine.follow(job, steps=2)  # admit, submit: queued
        remote_id = machine.store.get_job(job).remote_id

        machine.cancel(pick=0)
        machine.provider.complete(str(remote_id))  # too late: it is canceled there

        assert machine.store.get_job(job).state is S.CANCELED
        assert machine.provider.deletes == [remote_id]
        assert machine.control.canceled == [job]
        assert machine.flows[job][0].step is Step.CANCELED
        assert not machine.provider.jobs[str(remote_id)].was_completed
        summary = machine.store.batch_summary(BATCH)
        assert (summary.actual, summary.reserved) == (0, 0)


def test_a_cancel_from_a_row_read_before_the_create_keeps_a_completed_job() -> None:
    """``reelforge cancel`` read the batch's rows while the job was waiting; by its turn the
    engine has sent it and the provider completed it. The cancel goes by the job as it is
    now: completed on the provider, so kept and downloaded, never deleted."""
    with running() as machine:
        [job] = machine.ids
        machine.follow(job)  # admit: waiting
        [stale] = machine.store.jobs(BATCH)
        machine.follow(job)  # meanwhile the engine sends it, and the provider completes it
        remote_id = str(machine.store.get_job(job).remote_id)
        machine.provider.complete(remote_id)

        [result] = machine.clock.run(
            cancel_jobs(
                machine.store,
                machine.control,
                [stale],
                provider=machine.provider,
                account=ACCOUNT,
            )
        )

        assert result.outcome is CancelOutcome.COMPLETED
        assert machine.provider.deletes == []
        assert machine.control.canceled == []
        machine.follow(job, steps=2)  # poll: completed; download
        assert machine.store.get_job(job).state is S.DONE


def test_a_cancel_racing_a_poll_that_moves_the_job_stops_nothing_for_good() -> None:
    """``reelforge cancel`` while the workflow polls: the poll records the job in progress
    between the cancel's check and its transition, so the cancel (which has stopped the
    workflow) refuses: nothing deleted, nothing lost. The engine starts the workflow again, and
    a second cancel cancels the job."""
    with running() as machine:
        [job] = machine.ids
        machine.follow(job, steps=2)  # admit, submit: queued
        remote_id = str(machine.store.get_job(job).remote_id)
        machine.provider.start(remote_id, 30)

        machine.cancel_while_running(pick=0, steps=1)

        assert machine.store.get_job(job).state is S.IN_PROGRESS
        assert machine.control.canceled == [job]
        assert machine.flows[job][0].step is Step.CANCELED
        assert machine.provider.deletes == []
        machine.watchdog()
        assert machine.flows[job][0].step is Step.ADMIT
        machine.cancel(pick=0)
        assert machine.store.get_job(job).state is S.CANCELED
        assert machine.provider.deletes == [remote_id]
        assert machine.store.batch_summary(BATCH).actual == 0


# -- downloads --------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [Fault.DOWNLOAD_DROPPED, Fault.DOWNLOAD_DISK_FULL])
def test_a_download_that_fails_for_good_is_retried_without_a_new_create(fault: Fault) -> None:
    """The download fails for good: ``failed`` (category ``download``) with its cost settled,
    as the video was made. ``reelforge retry`` downloads it again: done, one create, paid
    once."""
    with running() as machine:
        [job] = machine.ids
        price = machine.price[job]
        machine.follow(job, steps=2)  # admit, submit
        machine.provider.complete(str(machine.store.get_job(job).remote_id))
        machine.inject_fault(fault)
        machine.follow(job, steps=2)  # poll: completed; download fails

        failed = machine.store.get_job(job)
        assert failed.state is S.FAILED
        assert failed.category is ErrorCategory.DOWNLOAD
        assert "`reelforge retry` resumes the download" in str(failed.error)
        summary = machine.store.batch_summary(BATCH)
        assert (summary.actual, summary.reserved) == (price, 0)
        machine.check_all()

        machine.retry_download(pick=0)
        machine.follow(job)  # the new download workflow

        assert machine.store.get_job(job).state is S.DONE
        assert len(machine.provider.create_calls) == 1
        summary = machine.store.batch_summary(BATCH)
        assert (summary.actual, summary.reserved) == (price, Decimal(0))


# -- unusable answers -------------------------------------------------------------------------


@pytest.mark.parametrize("unusable", [logic.MAX_STRIKES - 1, logic.MAX_STRIKES])
def test_unusable_status_checks_stop_a_job_after_the_strikes(unusable: int) -> None:
    """Status checks that are not the protocol: the job keeps polling until
    :data:`logic.MAX_STRIKES` of them in a row, then stops for review (category protocol)
    with its remote id; one usable answer before that and it goes on."""
    with running() as machine:
        [job] = machine.ids
        machine.follow(job, steps=2)  # admit, submit: queued
        machine.unusable_answers(count=unusable, listing=False)
        machine.follow(job, steps=unusable)

        row = machine.store.get_job(job)
        if unusable < logic.MAX_STRIKES:
            assert row.state is S.QUEUED
            assert machine.flows[job][0].step is Step.POLL
            assert machine.flows[job][0].strikes == unusable
            machine.follow(job)  # a usable answer: the strikes start again
            assert machine.flows[job][0].strikes == 0
        else:
            assert row.state is S.NEEDS_REVIEW
            assert row.category is ErrorCategory.PROTOCOL
            assert row.remote_id == machine.provider.creates[0].remote_id
            assert machine.flows[job][0].step is Step.END


def test_unusable_listings_stop_an_ambiguous_create_for_review() -> None:
    """A create whose answer was lost, and a listing that answers garbage: the job lists
    every few seconds, stops for review (category protocol) after :data:`logic.MAX_STRIKES`
    in a row, never resends, and never hangs."""
    with running(answers=[CreateAnswer.AMBIGUOUS_NOTHING]) as machine:
        [job] = machine.ids
        machine.follow(job)  # admit
        machine.unusable_answers(count=2 * logic.MAX_STRIKES, listing=True)
        times = submit_until_sent(machine, job)

        row = machine.store.get_job(job)
        assert row.state is S.NEEDS_REVIEW
        assert row.category is ErrorCategory.PROTOCOL
        assert len(times) == logic.MAX_STRIKES
        assert len(machine.provider.create_calls) == 1
        assert resubmits(machine, job) == 0
