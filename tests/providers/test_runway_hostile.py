"""The Runway adapter against hostile or broken answers (a MockTransport plays the server),
and its settings: nothing crashes, nothing paid is resent, the secret never shows."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai_fakes import FakeClock
from pydantic import SecretStr

from reelforge.core.errors import (
    AmbiguousSubmissionError,
    AuthError,
    DownloadError,
    ErrorCategory,
    InvalidRequestError,
    ProtocolError,
    RateLimitedError,
)
from reelforge.core.models import JobSpec, RemoteState, Variant
from reelforge.providers import RetryPolicy
from reelforge.providers.runway import DEFAULT_BASE_URL, RunwayProvider
from reelforge.providers.runway_entry import RUNWAY, RunwaySettings

SECRET = "key_hostile_runway_secret_abcdef0123"
BASE = "https://api.runway.test"
TASK_ID = "5f0c6c1e-8a8e-4f57-9d55-0d2a3b4c5d6e"
Handler = Callable[[httpx.Request], httpx.Response]


def task(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": TASK_ID, "createdAt": "2026-12-06T12:00:00.000Z"}
    body.update(fields)
    return body


class Server:
    """A scripted server: ``handler`` answers; every request is kept."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


MakeProvider = Callable[..., tuple[RunwayProvider, Server]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_provider(clock: FakeClock) -> AsyncIterator[MakeProvider]:
    clients: list[httpx.AsyncClient] = []

    def make(handler: Handler, **kwargs: Any) -> tuple[RunwayProvider, Server]:
        server = Server(handler)
        client = httpx.AsyncClient(transport=httpx.MockTransport(server))
        clients.append(client)
        kwargs.setdefault("base_url", BASE)
        kwargs.setdefault("api_secret", SECRET)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("rng", random.Random(5))
        kwargs.setdefault("retry", RetryPolicy(max_attempts=3))
        return RunwayProvider(client, **kwargs), server

    yield make
    for client in clients:
        await client.aclose()


def spec() -> JobSpec:
    return JobSpec(prompt="a fox in the snow", provider="runway", model="gen4.5", seconds=5)


def answer(body: object, status: int = 200, **headers: str) -> Handler:
    def handle(_: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handle


async def test_an_unreadable_create_answer_is_ambiguous_and_sent_once(
    make_provider: MakeProvider,
) -> None:
    for body in (b"{not json", {"id": ".."}, {"id": 42}, [TASK_ID]):
        provider, server = make_provider(answer(body))
        with pytest.raises(AmbiguousSubmissionError):
            await provider.submit(spec())
        assert len(server.requests) == 1


async def test_a_5xx_on_create_is_ambiguous_and_never_resent(make_provider: MakeProvider) -> None:
    provider, server = make_provider(answer({"error": "Internal error"}, 502))
    with pytest.raises(AmbiguousSubmissionError):
        await provider.submit(spec())
    assert [r.url.path for r in server.requests] == ["/v1/text_to_video"]
    body = json.loads(server.requests[0].content)
    assert body["model"] == "gen4.5"
    assert body["promptText"] == "a fox in the snow"
    assert "prompt" not in body


async def test_a_429_on_create_waits_and_creates_once(
    make_provider: MakeProvider, clock: FakeClock
) -> None:
    answers = iter(
        [
            httpx.Response(429, json={"error": "Too many requests"}, headers={"Retry-After": "2"}),
            httpx.Response(200, json={"id": TASK_ID}),
        ]
    )
    provider, server = make_provider(lambda _: next(answers))
    created = await provider.submit(spec())
    assert created.remote_id == TASK_ID
    assert len(server.requests) == 2
    assert clock.sleeps == [2.0]


async def test_a_daily_cap_429_surfaces_rate_limited(make_provider: MakeProvider) -> None:
    provider, server = make_provider(answer({"error": "Daily limit reached"}, 429))
    with pytest.raises(RateLimitedError) as raised:
        await provider.fetch(TASK_ID)
    assert "Daily limit reached" in raised.value.message
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", {"status": "RUNNING"}, task(), task(status=7), "just a string"],
)
async def test_an_unreadable_task_is_a_protocol_error(
    make_provider: MakeProvider, body: object
) -> None:
    provider, _ = make_provider(answer(body))
    with pytest.raises(ProtocolError):
        await provider.fetch(TASK_ID)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "javascript:alert(1)", "ftp://cdn.test/v.mp4", "/relative.mp4", 7],
)
async def test_an_output_that_is_not_an_http_url_is_refused(
    make_provider: MakeProvider, url: object, tmp_path: Path
) -> None:
    provider, server = make_provider(answer(task(status="SUCCEEDED", output=[url])))
    with pytest.raises(ProtocolError):
        await provider.fetch(TASK_ID)
    with pytest.raises(ProtocolError):
        await provider.download(TASK_ID, Variant.VIDEO, tmp_path / "v.mp4")
    assert all(r.url.host == "api.runway.test" for r in server.requests)


async def test_path_like_ids_stay_one_segment_or_are_refused(make_provider: MakeProvider) -> None:
    sneaky = "../../v1/organization"
    provider, server = make_provider(answer(task(id=sneaky, status="PENDING")))
    status = await provider.fetch(sneaky)
    assert status.remote_id == sneaky
    assert server.requests[0].url.raw_path == b"/v1/tasks/..%2F..%2Fv1%2Forganization"
    for bad in ("..", "", "a b", "x\n"):
        with pytest.raises(ProtocolError):
            await provider.fetch(bad)
    assert len(server.requests) == 1


async def test_an_answer_about_another_task_is_refused(make_provider: MakeProvider) -> None:
    provider, _ = make_provider(answer(task(id="someone-else", status="PENDING")))
    with pytest.raises(ProtocolError, match="answered with task someone-else"):
        await provider.fetch(TASK_ID)


@pytest.mark.parametrize(
    ("fields", "state", "progress"),
    [
        ({"status": "PENDING"}, RemoteState.QUEUED, 0),
        ({"status": "THROTTLED"}, RemoteState.QUEUED, 0),
        ({"status": "RUNNING", "progress": 0.424}, RemoteState.IN_PROGRESS, 42),
        ({"status": "RUNNING", "progress": 1.7}, RemoteState.IN_PROGRESS, 99),
        ({"status": "RUNNING", "progress": -3}, RemoteState.IN_PROGRESS, 0),
        ({"status": "RUNNING", "progress": "half"}, RemoteState.IN_PROGRESS, 0),
        ({"status": "RUNNING", "progress": None}, RemoteState.IN_PROGRESS, 0),
        ({"status": "ASSETS_PROCESSING"}, RemoteState.IN_PROGRESS, 0),
        ({"status": "SUCCEEDED", "output": []}, RemoteState.EXPIRED, 100),
        ({"status": "CANCELLED"}, RemoteState.CANCELED, 0),
    ],
)
async def test_statuses_map_without_crashing(
    make_provider: MakeProvider, fields: dict[str, Any], state: RemoteState, progress: int
) -> None:
    provider, _ = make_provider(answer(task(**fields)))
    status = await provider.fetch(TASK_ID)
    assert (status.state, status.progress) == (state, progress)
    assert status.provider_status == fields["status"]


async def test_a_nan_progress_is_zero(make_provider: MakeProvider) -> None:
    raw = b'{"id": "%s", "status": "RUNNING", "progress": NaN}' % TASK_ID.encode()
    provider, _ = make_provider(answer(raw))
    assert (await provider.fetch(TASK_ID)).progress == 0


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("SAFETY.INPUT.TEXT", ErrorCategory.CONTENT_POLICY),
        ("SAFETY.OUTPUT.VIDEO", ErrorCategory.CONTENT_POLICY),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", ErrorCategory.CONTENT_POLICY),
        ("INTERNAL.BAD_OUTPUT.CODE01", ErrorCategory.GENERATION_FAILED),
        (None, ErrorCategory.GENERATION_FAILED),
    ],
)
async def test_failure_codes_map_to_categories(
    make_provider: MakeProvider, code: str | None, category: ErrorCategory
) -> None:
    fields: dict[str, Any] = {"status": "FAILED", "failure": "It did not work."}
    if code is not None:
        fields["failureCode"] = code
    provider, _ = make_provider(answer(task(**fields)))
    status = await provider.fetch(TASK_ID)
    assert status.state is RemoteState.FAILED
    assert status.error is not None
    assert (status.error.category, status.error.code) == (category, code)
    assert status.error.message == "It did not work."


async def test_error_bodies_map_to_reelforge_errors(make_provider: MakeProvider) -> None:
    refused = {
        "error": "Validation of body failed",
        "issues": [{"path": ["ratio"], "message": "Invalid enum value"}],
    }
    provider, _ = make_provider(answer(refused, 400))
    with pytest.raises(InvalidRequestError) as invalid:
        await provider.submit(spec())
    assert invalid.value.param == "ratio"
    assert "ratio Invalid enum value" in invalid.value.message
    provider, _ = make_provider(answer({"error": f"Bad key {SECRET}"}, 401))
    with pytest.raises(AuthError) as auth:
        await provider.fetch(TASK_ID)
    assert SECRET not in str(auth.value)
    assert SECRET not in repr(auth.value.args)


async def test_the_secret_goes_to_the_api_only_and_the_version_everywhere(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cdn.runway.test":
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>")
        url = f"https://cdn.runway.test/{TASK_ID}.mp4?_jwt=t{len(server.requests)}"
        return httpx.Response(200, json=task(status="SUCCEEDED", output=[url]))

    provider, server = make_provider(handle, url_refreshes=2)
    with pytest.raises(DownloadError, match="refused 3 output URLs") as raised:
        await provider.download(TASK_ID, Variant.VIDEO, tmp_path / "v.mp4")
    assert raised.value.category is ErrorCategory.DOWNLOAD
    api = [r for r in server.requests if r.url.host == "api.runway.test"]
    cdn = [r for r in server.requests if r.url.host == "cdn.runway.test"]
    assert (len(api), len(cdn)) == (3, 3)
    assert len({r.url.params["_jwt"] for r in cdn}) == 3
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in api)
    assert all("authorization" not in r.headers for r in cdn)
    assert all(r.headers["x-runway-version"] == "2024-11-06" for r in server.requests)


async def test_delete_takes_204_and_a_drop_then_404_as_done(make_provider: MakeProvider) -> None:
    provider, server = make_provider(lambda _: httpx.Response(204))
    await provider.delete(TASK_ID)
    assert [(r.method, r.url.path) for r in server.requests] == [("DELETE", f"/v1/tasks/{TASK_ID}")]
    answers = iter([httpx.ReadError("dropped"), httpx.Response(404, json={"error": "Not found"})])

    def flaky(_: httpx.Request) -> httpx.Response:
        item = next(answers)
        if isinstance(item, Exception):
            raise item
        return item

    provider, server = make_provider(flaky)
    await provider.delete(TASK_ID)
    assert len(server.requests) == 2


def test_settings_read_runways_own_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNWAYML_API_SECRET", raising=False)
    monkeypatch.delenv("RUNWAYML_BASE_URL", raising=False)
    assert RUNWAY.configured() is None
    assert RUNWAY.simulated("http://127.0.0.1:9/v1/").base_url == "http://127.0.0.1:9"
    monkeypatch.setenv("RUNWAYML_API_SECRET", SECRET)
    settings = RunwaySettings()
    assert isinstance(settings.api_secret, SecretStr)
    assert settings.has_credentials
    assert SECRET not in repr(settings)
    endpoint = RUNWAY.configured()
    assert endpoint is not None
    assert endpoint.base_url == DEFAULT_BASE_URL == "https://api.dev.runwayml.com"
    assert SECRET not in repr(endpoint)
    monkeypatch.setenv("RUNWAYML_BASE_URL", " https://proxy.test/ ")
    monkeypatch.setenv("RUNWAYML_API_SECRET", "  ")
    blank = RunwaySettings()
    assert blank.api_secret is None
    assert blank.base_url == "https://proxy.test"
