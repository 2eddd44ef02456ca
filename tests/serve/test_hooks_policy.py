"""With webhooks on, polling is a slow safety net: the policy's delay, and which adapters say
their provider pushes completions."""

from __future__ import annotations

import random

import httpx
import pytest

from reelforge.core.polling import Observation, PollPolicy
from reelforge.providers.base import PushesCompletions
from reelforge.providers.fal import FalProvider
from reelforge.providers.openai_entry import OpenAISettings
from reelforge.providers.replicate import ReplicateProvider

HISTORY = [Observation(at=100.0, progress=10), Observation(at=101.0, progress=20)]


def test_a_pushed_job_is_checked_no_sooner_than_the_safety_net() -> None:
    policy = PollPolicy(jitter=0.0)
    polled = policy.next_delay(HISTORY, hint=0.5)
    pushed = policy.next_delay(HISTORY, hint=0.5, pushed=True)
    assert polled < 60.0
    assert pushed == 300.0
    # A hint or an estimate beyond the net still wins: the net is a floor, not a target.
    assert PollPolicy(jitter=0.0, ceiling=600.0).next_delay([], hint=400.0, pushed=True) == 400.0


def test_the_safety_net_is_bounded_by_a_quarter_of_the_timeout() -> None:
    policy = PollPolicy(jitter=0.0, timeout=20.0)
    assert policy.next_delay([], hint=0.5, pushed=True) == 5.0


def test_the_safety_net_is_jittered_like_any_delay() -> None:
    policy = PollPolicy(jitter=0.1, safety_net=30.0)
    delays = {policy.next_delay([], pushed=True, rng=random.Random(seed)) for seed in range(20)}
    assert all(27.0 <= delay <= 33.0 for delay in delays)
    assert len(delays) > 1


@pytest.mark.parametrize("public_url", [None, "https://hooks.example.com"])
async def test_fal_and_replicate_push_when_a_public_url_is_set(public_url: str | None) -> None:
    async with httpx.AsyncClient() as client:
        for provider in (
            FalProvider(client, api_key="k:s", public_url=public_url),
            ReplicateProvider(client, api_token="r8", public_url=public_url),
        ):
            assert isinstance(provider, PushesCompletions)
            assert provider.webhooks is (public_url is not None)


@pytest.mark.parametrize(
    ("secret", "public_url", "pushes"),
    [
        ("whsec_c2VjcmV0", "https://hooks.example.com", True),
        ("whsec_c2VjcmV0", None, False),
        (None, "https://hooks.example.com", False),
        ("  ", "https://hooks.example.com", False),
    ],
)
def test_openai_pushes_with_a_webhook_secret_and_a_public_url(
    secret: str | None, public_url: str | None, pushes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (("OPENAI_WEBHOOK_SECRET", secret), ("REELFORGE_PUBLIC_URL", public_url)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert OpenAISettings().webhooks is pushes
