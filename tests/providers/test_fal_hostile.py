"""The fal adapter against answers no honest fal sends: each fails cleanly, names no secret, and
a create whose answer cannot be trusted is ambiguous (never resent)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from openai_fakes import FakeClock

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    AuthError,
    ProtocolError,
    TransientError,
)
from reelforge.core.models import JobSpec, RemoteState, Variant
from reelforge.providers import RetryPolicy
from reelforge.providers.fal import FalProvider

QUEUE = "https://queue.fal.test"
KEY = "hostile-id:hostile-secret-abcdef"
RID = "0b9c6c8e-6a8c-4f7e-9d3e-2b1f1c0a9e11"
Handler = Callable[[httpx.Request], httpx.Response]


class Seen:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


@pytest.fixture
async def make() -> AsyncIterator[Callable[[Handler], tuple[FalProvider, Seen]]]:
    clients: list[httpx.AsyncClient] = []

    def factory(handler: Handler) -> tuple[FalProvider, Seen]:
        seen = Seen(handler)
        client = httpx.AsyncClient(transport=httpx.MockTransport(seen))
        clients.append(client)
        provider = FalProvider(
            client,
            base_url=QUEUE,
            api_key=KEY,
            clock=FakeClock(),
            rng=random.Random(1),
            retry=RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=1.0),
        )
        return provider, seen

    yield factory
    for client in clients:
        await client.aclose()


def spec() -> JobSpec:
    return JobSpec(prompt="a hostile test", provider="fal", model="fal-ai/veo3.1/fast", seconds=4)


def submitted(**overrides: object) -> dict[str, object]:
    root = f"{QUEUE}/fal-ai/veo3.1/requests/{RID}"
    body: dict[str, object] = {
        "status": "IN_QUEUE",
        "request_id": RID,
        "response_url": root,
        "status_url": f"{root}/status",
        "cancel_url": f"{root}/cancel",
        "queue_position": 0,
    }
    body.update(overrides)
    return body


def answer(body: object, status: int = 200, **headers: str) -> Handler:
    def handler(_: httpx.Request) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers=headers)

    return handler


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        submitted(status_url=f"https://evil.test/fal-ai/veo3.1/requests/{RID}/status"),
        submitted(
            response_url=f"https://evil.test/fal-ai/veo3.1/requests/{RID}",
            status_url=f"https://evil.test/fal-ai/veo3.1/requests/{RID}/status",
            cancel_url=f"https://evil.test/fal-ai/veo3.1/requests/{RID}/cancel",
        ),
        submitted(request_id="../../x"),
        submitted(response_url=f"{QUEUE}/fal-ai/../../requests/{RID}"),
        submitted(response_url=f"{QUEUE}/other/app/requests/{RID}"),
        submitted(response_url=None),
        [1, 2, 3],
    ],
)
async def test_an_untrustworthy_submit_answer_is_ambiguous_and_sent_once(
    make: Callable[[Handler], tuple[FalProvider, Seen]], body: object
) -> None:
    provider, seen = make(answer(body))
    with pytest.raises(AmbiguousSubmissionError) as raised:
        await provider.submit(spec())
    assert isinstance(raised.value, ProtocolError)
    assert len(seen.requests) == 1
    assert KEY not in str(raised.value)


async def test_a_5xx_on_submit_is_ambiguous_and_sent_once(
    make: Callable[[Handler], tuple[FalProvider, Seen]],
) -> None:
    provider, seen = make(
        answer({"detail": "Runner disconnected"}, 503, **{"x-fal-request-id": RID})
    )
    with pytest.raises(AmbiguousSubmissionError):
        await provider.submit(spec())
    assert len(seen.requests) == 1


async def test_the_key_echoed_in_an_error_never_shows(
    make: Callable[[Handler], tuple[FalProvider, Seen]],
) -> None:
    provider, _ = make(answer({"detail": f"bad key {KEY}"}, 401))
    with pytest.raises(AuthError) as raised:
        await provider.fetch(f"fal-ai/veo3.1/requests/{RID}")
    assert KEY not in str(raised.value)
    assert "hostile-secret" not in repr(raised.value.args)


async def test_an_unknown_status_keeps_the_job_running(
    make: Callable[[Handler], tuple[FalProvider, Seen]],
) -> None:
    provider, seen = make(answer({"status": "WARMING_UP"}, 202))
    status = await provider.fetch(f"fal-ai/veo3.1/requests/{RID}")
    assert status.state is RemoteState.IN_PROGRESS
    assert status.provider_status == "WARMING_UP"
    assert str(seen.requests[0].url) == f"{QUEUE}/fal-ai/veo3.1/requests/{RID}/status?logs=1"
    assert seen.requests[0].headers["authorization"] == f"Key {KEY}"


async def test_malformed_status_is_a_protocol_error_after_no_retry(
    make: Callable[[Handler], tuple[FalProvider, Seen]],
) -> None:
    provider, _ = make(answer(b"<html>oops</html>", 200))
    with pytest.raises(ProtocolError):
        await provider.fetch(f"fal-ai/veo3.1/requests/{RID}")


async def test_nginx_page_on_a_read_is_retried_then_transient(
    make: Callable[[Handler], tuple[FalProvider, Seen]],
) -> None:
    provider, seen = make(answer(b"<html><center>nginx</center></html>", 502))
    with pytest.raises(TransientError):
        await provider.fetch(f"fal-ai/veo3.1/requests/{RID}")
    assert len(seen.requests) == 3


async def test_the_cdn_on_another_origin_never_gets_the_key(
    make: Callable[[Handler], tuple[FalProvider, Seen]], tmp_path: Path
) -> None:
    video = Path(__file__).parent.parent.joinpath("batch", "valid", "kite.png")  # any bytes
    assert video.exists()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cdn.fal.test":
            return httpx.Response(
                200, content=b"not a video", headers={"content-type": "video/mp4"}
            )
        url = "https://cdn.fal.test/files/x/output.mp4"
        return httpx.Response(200, json={"video": {"url": url}})

    provider, seen = make(handler)
    with pytest.raises(Exception):  # noqa: B017, PT011  # the bytes are no MP4: refused
        await provider.download(f"fal-ai/veo3.1/requests/{RID}", Variant.VIDEO, tmp_path / "v.mp4")
    cdn = [r for r in seen.requests if r.url.host == "cdn.fal.test"]
    assert cdn
    assert all("authorization" not in r.headers for r in cdn)
    assert not (tmp_path / "v.mp4").exists()


async def test_a_result_url_that_is_not_http_is_refused(
    make: Callable[[Handler], tuple[FalProvider, Seen]], tmp_path: Path
) -> None:
    provider, seen = make(answer({"video": {"url": "file:///etc/passwd"}}))
    with pytest.raises(ProtocolError):
        await provider.download(f"fal-ai/veo3.1/requests/{RID}", Variant.VIDEO, tmp_path / "v.mp4")
    assert len(seen.requests) == 1


@pytest.mark.parametrize(
    ("logs", "progress"),
    [
        ([{"message": "Generating: 40%"}, {"message": "step 12/30 (70%)"}], 70),
        ([{"message": "100% of weights loaded"}], 99),
        ([{"message": "no number here"}, "not an object", {"message": 7}], 0),
        ("not a list", 0),
        ([{"message": "3.5% done"}], 3),
        ([{"message": "12345% impossible"}], 0),
    ],
)
async def test_progress_is_read_from_logs_and_never_trusted_beyond_99(
    make: Callable[[Handler], tuple[FalProvider, Seen]], logs: object, progress: int
) -> None:
    provider, _ = make(answer({"status": "IN_PROGRESS", "logs": logs}, 202))
    status = await provider.fetch(f"fal-ai/veo3.1/requests/{RID}")
    assert status.state is RemoteState.IN_PROGRESS
    assert status.progress == progress
