"""Retries: reads retry transient failures; a create is retried only when nothing was created."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from openai_fakes import FakeClock, MakeProvider, error_body, sequence, video

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    TransientError,
)
from reelforge.core.models import JobSpec
from reelforge.providers import RetryPolicy

SPEC = JobSpec(prompt="A red kite over dunes")


def ok(body: dict[str, object] | None = None) -> httpx.Response:
    return httpx.Response(200, json=body or video())


def rate_limited(**headers: str) -> httpx.Response:
    return httpx.Response(
        429, json=error_body("Slow down", code="rate_limit_exceeded"), headers=headers
    )


async def test_429_with_retry_after_sleeps_that_long_then_succeeds(
    make_provider: MakeProvider, clock: FakeClock
) -> None:
    provider, recorder = make_provider(sequence(rate_limited(**{"retry-after": "3"}), ok()))

    status = await provider.fetch("video_1")

    assert status.remote_id == "video_1"
    assert clock.sleeps == [3.0]
    assert len(recorder.requests) == 2


async def test_retry_after_ms_wins_over_retry_after(
    make_provider: MakeProvider, clock: FakeClock
) -> None:
    limited = rate_limited(**{"retry-after-ms": "1500", "retry-after": "9"})
    provider, _ = make_provider(sequence(limited, ok()))

    await provider.fetch("video_1")

    assert clock.sleeps == [1.5]


async def test_retry_after_as_an_http_date(make_provider: MakeProvider, clock: FakeClock) -> None:
    when = datetime.fromtimestamp(clock.now() + 7, tz=UTC)
    provider, _ = make_provider(
        sequence(rate_limited(**{"retry-after": format_datetime(when, usegmt=True)}), ok())
    )

    await provider.fetch("video_1")

    assert clock.sleeps == [pytest.approx(7.0)]


async def test_retry_after_beyond_the_cap_raises_at_once(
    make_provider: MakeProvider, clock: FakeClock
) -> None:
    provider, recorder = make_provider(sequence(rate_limited(**{"retry-after": "600"})))

    with pytest.raises(RateLimitedError) as caught:
        await provider.fetch("video_1")

    assert caught.value.retry_after == 600
    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limit_exceeded"
    assert clock.sleeps == []
    assert len(recorder.requests) == 1


async def test_persistent_429_gives_up_after_max_attempts(
    make_provider: MakeProvider, clock: FakeClock
) -> None:
    provider, recorder = make_provider(lambda request: rate_limited(**{"retry-after": "1"}))

    with pytest.raises(RateLimitedError):
        await provider.fetch("video_1")

    assert len(recorder.requests) == 4
    assert clock.sleeps == [1.0, 1.0, 1.0]


async def test_insufficient_quota_is_not_retried(make_provider: MakeProvider) -> None:
    quota = httpx.Response(
        429, json=error_body("You exceeded your quota", code="insufficient_quota")
    )
    provider, recorder = make_provider(sequence(quota))

    with pytest.raises(RateLimitedError, match="quota"):
        await provider.submit(SPEC)

    assert len(recorder.requests) == 1


async def test_5xx_on_get_is_retried_with_backoff_then_ok(
    make_provider: MakeProvider, clock: FakeClock
) -> None:
    provider, recorder = make_provider(
        sequence(httpx.Response(500, text="oops"), httpx.Response(502, text="bad gateway"), ok())
    )

    status = await provider.fetch("video_1")

    assert status.remote_id == "video_1"
    assert len(recorder.requests) == 3
    assert len(clock.sleeps) == 2
    assert 0.375 <= clock.sleeps[0] <= 0.5  # base 0.5 s, at most 25 % jitter
    assert 0.75 <= clock.sleeps[1] <= 1.0


async def test_503_on_get_honours_retry_after(
    make_provider: MakeProvider, clock: FakeClock
) -> None:
    busy = httpx.Response(503, json=error_body("busy"), headers={"retry-after": "2"})
    provider, _ = make_provider(sequence(busy, ok()))

    await provider.fetch("video_1")

    assert clock.sleeps == [2.0]


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("eof")],
    ids=["read-timeout", "connect-error", "remote-protocol"],
)
async def test_transport_failures_on_get_are_retried(
    make_provider: MakeProvider, failure: Exception
) -> None:
    provider, recorder = make_provider(sequence(failure, ok()))

    await provider.fetch("video_1")

    assert len(recorder.requests) == 2


async def test_get_that_keeps_failing_raises_transient_error_from_httpx(
    make_provider: MakeProvider,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    provider, recorder = make_provider(handler)

    with pytest.raises(TransientError, match="4 attempts") as caught:
        await provider.fetch("video_1")

    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert len(recorder.requests) == 4


async def test_500_after_create_is_ambiguous_and_sent_once(make_provider: MakeProvider) -> None:
    provider, recorder = make_provider(lambda request: httpx.Response(500, json=error_body("boom")))

    with pytest.raises(AmbiguousSubmissionError) as caught:
        await provider.submit(SPEC)

    assert caught.value.status_code == 500
    assert len(recorder.requests) == 1


async def test_503_after_create_is_ambiguous_and_sent_once(make_provider: MakeProvider) -> None:
    busy = httpx.Response(503, json=error_body("busy"), headers={"retry-after": "1"})
    provider, recorder = make_provider(lambda request: busy)

    with pytest.raises(AmbiguousSubmissionError) as caught:
        await provider.submit(SPEC)

    assert caught.value.retry_after == 1.0
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.WriteError("broken pipe"),
        httpx.WriteTimeout("write timed out"),
    ],
    ids=["read-timeout", "read-error", "remote-protocol", "write-error", "write-timeout"],
)
async def test_failure_after_sending_a_create_is_ambiguous_and_not_retried(
    make_provider: MakeProvider, failure: Exception, clock: FakeClock
) -> None:
    provider, recorder = make_provider(sequence(failure, ok()))

    with pytest.raises(AmbiguousSubmissionError) as caught:
        await provider.submit(SPEC)

    assert caught.value.__cause__ is failure
    assert len(recorder.requests) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("no route")],
    ids=["connect-error", "connect-timeout"],
)
async def test_connection_never_made_on_create_is_retried_and_created_once(
    make_provider: MakeProvider, failure: Exception
) -> None:
    provider, recorder = make_provider(sequence(failure, ok()))

    status = await provider.submit(SPEC)

    assert status.remote_id == "video_1"
    assert [r.method for r in recorder.requests] == ["POST", "POST"]  # the first never connected


async def test_429_on_create_is_retried(make_provider: MakeProvider, clock: FakeClock) -> None:
    provider, recorder = make_provider(sequence(rate_limited(**{"retry-after-ms": "250"}), ok()))

    await provider.submit(SPEC)

    assert len(recorder.requests) == 2
    assert clock.sleeps == [0.25]


async def test_4xx_on_create_is_final(make_provider: MakeProvider) -> None:
    bad = httpx.Response(400, json=error_body("Invalid size", param="size"))
    provider, recorder = make_provider(lambda request: bad)

    with pytest.raises(InvalidRequestError) as caught:
        await provider.submit(SPEC)

    assert caught.value.param == "size"
    assert len(recorder.requests) == 1


async def test_unreadable_success_on_create_is_ambiguous(make_provider: MakeProvider) -> None:
    provider, recorder = make_provider(lambda request: httpx.Response(200, content=b"{oops"))

    with pytest.raises(AmbiguousSubmissionError) as caught:
        await provider.submit(SPEC)

    assert isinstance(caught.value, ProtocolError)
    assert len(recorder.requests) == 1


async def test_remix_follows_the_create_rules(make_provider: MakeProvider) -> None:
    provider, recorder = make_provider(lambda request: httpx.Response(502, text="bad gateway"))

    with pytest.raises(AmbiguousSubmissionError):
        await provider.remix("video_1", "Make it night")

    assert len(recorder.requests) == 1


async def test_delete_whose_answer_was_lost_succeeds_when_the_retry_finds_it_gone(
    make_provider: MakeProvider,
) -> None:
    gone = httpx.Response(404, json=error_body("Video not found"))
    provider, recorder = make_provider(sequence(httpx.ReadError("reset"), gone))

    await provider.delete("video_1")

    assert [r.method for r in recorder.requests] == ["DELETE", "DELETE"]


async def test_delete_of_a_missing_video_is_not_found(make_provider: MakeProvider) -> None:
    gone = httpx.Response(404, json=error_body("Video not found"))
    provider, _ = make_provider(sequence(gone))

    with pytest.raises(NotFoundError):
        await provider.delete("video_1")


def test_backoff_grows_and_stays_within_bounds() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.5)
    rng = random.Random(1)

    delays = [policy.backoff(n, rng) for n in range(1, 8)]

    assert 0.5 <= delays[0] <= 1.0
    assert 1.0 <= delays[1] <= 2.0
    assert all(2.5 <= d <= 5.0 for d in delays[3:])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"base_delay": 9, "max_delay": 1},
        {"jitter": 1.0},
        {"max_retry_after": -1},
    ],
)
def test_retry_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
