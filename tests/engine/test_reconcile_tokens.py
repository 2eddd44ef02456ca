"""Reconciliation matches on the job's idempotency token where the provider echoes it back."""

from __future__ import annotations

from reelforge.core.capabilities import capabilities_for, validate_spec
from reelforge.core.models import JobSpec, RemoteState, RemoteStatus
from reelforge.engine.reconcile import ReconcilePolicy, Verdict, decide, matches
from reelforge.providers.inputs import model_input

SPEC = JobSpec(prompt="a paper boat", model="sora-2", seconds=4, size="1280x720")
NOW = 1_900_000_000.0


def _status(remote_id: str, *, token: str | None, prompt: str = SPEC.prompt) -> RemoteStatus:
    return RemoteStatus(
        remote_id=remote_id,
        state=RemoteState.QUEUED,
        model=SPEC.model,
        seconds=SPEC.seconds,
        size=SPEC.size,
        prompt=prompt,
        created_at=NOW,
        token=token,
    )


def _decide(remote: list[RemoteStatus], token: str | None) -> Verdict | str:
    decision = decide(
        remote,
        SPEC,
        intent_at=NOW,
        now=NOW + 1,
        taken=set(),
        can_list=True,
        policy=ReconcilePolicy(),
        token=token,
    )
    return decision.adopted.remote_id if decision.adopted else decision.verdict


def test_the_same_prompt_sent_twice_is_told_apart_by_its_token() -> None:
    remote = [_status("r1", token="tok-other"), _status("r2", token="tok-ours")]
    assert _decide(remote, "tok-ours") == "r2"


def test_a_job_with_another_token_is_never_ours_whatever_its_prompt() -> None:
    assert _decide([_status("r1", token="tok-other")], "tok-ours") is Verdict.WAIT


def test_the_token_decides_even_when_the_prompt_is_not_echoed() -> None:
    assert matches(_status("r1", token="tok-ours", prompt=""), SPEC, since=NOW, token="tok-ours")


def test_without_an_echoed_token_the_prompt_and_parameters_match() -> None:
    remote = [_status("r1", token=None), _status("r2", token=None, prompt="another boat")]
    assert _decide(remote, "tok-ours") == "r1"
    # Two untokened jobs with our prompt: a person decides.
    assert _decide([_status("r1", token=None), _status("r3", token=None)], "tok") is Verdict.REVIEW


def test_a_listed_input_must_be_the_one_the_job_sends() -> None:
    """Replicate echoes each prediction's input: the same prompt with another length, or
    another model input, is not our job; our exact input (whatever the provider added) is."""
    spec = validate_spec(
        JobSpec(prompt="a paper boat", provider="replicate", model="google/veo-3.1", seconds=6)
    )
    sent = model_input(spec, capabilities_for(spec.model, "replicate"))

    def listed(remote_id: str, **changes: object) -> RemoteStatus:
        return RemoteStatus(
            remote_id=remote_id,
            state=RemoteState.QUEUED,
            model=spec.model,
            prompt=spec.prompt,
            created_at=NOW,
            input={**sent, **changes},
        )

    ours = listed("p-ours", extra_default="added by the provider")
    assert matches(ours, spec, since=NOW - 1)
    assert not matches(listed("p-other", duration=8), spec, since=NOW - 1)
    assert not matches(listed("p-loud", generate_audio=not spec.audio), spec, since=NOW - 1)
    decision = decide(
        [listed("p-other", duration=8), ours],
        spec,
        intent_at=NOW,
        now=NOW + 1,
        taken=set(),
        can_list=True,
        policy=ReconcilePolicy(),
    )
    assert decision.adopted is not None
    assert decision.adopted.remote_id == "p-ours"
