"""A Video object becomes a RemoteStatus; anything that is not the protocol raises ProtocolError."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from openai_fakes import ChunkedStream, MakeProvider, video

from reelforge.core.errors import ErrorCategory, ProtocolError
from reelforge.core.models import RemoteState, RemoteStatus


def answer(body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers)


async def fetch_with(make_provider: MakeProvider, response: httpx.Response) -> RemoteStatus:
    provider, _ = make_provider(lambda request: response)
    return await provider.fetch("video_1")


async def test_queued_video_is_normalized_with_hints(make_provider: MakeProvider) -> None:
    response = answer(video(), **{"openai-poll-after-ms": "2500", "x-request-id": "req_abc"})

    status = await fetch_with(make_provider, response)

    assert status.remote_id == "video_1"
    assert status.state is RemoteState.QUEUED
    assert status.progress == 0
    assert status.seconds == 4
    assert status.size == "720x1280"
    assert status.created_at == 1_800_000_000
    assert status.poll_after == 2.5
    assert status.request_id == "req_abc"
    assert status.provider_status == "queued"


@pytest.mark.parametrize(
    ("headers", "request_id"),
    [
        ({"x-request-id": "req_1", "x-litellm-call-id": "call-1"}, "req_1"),
        ({"x-litellm-call-id": "0e92ca9e-4558-46fb-9526-fd7a95e72312"}, None),
        ({"x-request-id": "not one", "x-litellm-call-id": "call-1"}, "call-1"),
        ({"x-litellm-call-id": "[redacted]"}, "missing"),
        ({}, "missing"),
    ],
)
async def test_the_request_id_is_x_request_id_else_the_gateway_s_call_id(
    make_provider: MakeProvider, headers: dict[str, str], request_id: str | None
) -> None:
    status = await fetch_with(make_provider, answer(video(), **headers))

    expected = headers["x-litellm-call-id"] if request_id is None else request_id
    assert status.request_id == (None if expected == "missing" else expected)


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("queued", RemoteState.QUEUED),
        ("pending", RemoteState.QUEUED),
        ("in_progress", RemoteState.IN_PROGRESS),
        ("processing", RemoteState.IN_PROGRESS),
        ("completed", RemoteState.COMPLETED),
        ("succeeded", RemoteState.COMPLETED),
        ("SUCCEEDED", RemoteState.COMPLETED),
        ("cancelled", RemoteState.CANCELED),
        ("canceled", RemoteState.CANCELED),
        ("expired", RemoteState.EXPIRED),
    ],
)
async def test_gateway_statuses_with_a_certain_meaning_are_mapped(
    make_provider: MakeProvider, raw: str, state: RemoteState
) -> None:
    status = await fetch_with(make_provider, answer(video(status=raw, progress=50)))

    assert status.state is state
    assert status.provider_status == raw


@pytest.mark.parametrize("raw", ["paused", "waiting_for_gpu", "", "done?"])
async def test_unknown_status_is_a_protocol_error(make_provider: MakeProvider, raw: str) -> None:
    with pytest.raises(ProtocolError, match="unknown status"):
        await fetch_with(make_provider, answer(video(status=raw)))


POLICY, FAILED = ErrorCategory.CONTENT_POLICY, ErrorCategory.GENERATION_FAILED


@pytest.mark.parametrize(
    ("error", "category"),
    [
        ({"code": "moderation_blocked", "message": "Blocked."}, ErrorCategory.CONTENT_POLICY),
        (
            {"code": "blocked", "message": "Violates our content policy"},
            ErrorCategory.CONTENT_POLICY,
        ),
        (
            {"code": "internal_error", "message": "Generation failed"},
            ErrorCategory.GENERATION_FAILED,
        ),
        (None, ErrorCategory.GENERATION_FAILED),
    ],
)
async def test_failed_job_error_code_gives_the_category(
    make_provider: MakeProvider, error: dict[str, str] | None, category: ErrorCategory
) -> None:
    status = await fetch_with(make_provider, answer(video(status="failed", error=error)))

    assert status.state is RemoteState.FAILED
    assert status.error is not None
    assert status.error.category is category
    if error:
        assert status.error.code == error["code"]
        assert status.error.message == error["message"]


async def test_completed_video_carries_times_and_remix_source(make_provider: MakeProvider) -> None:
    body = video(
        status="completed",
        progress=100,
        completed_at=1_800_000_100,
        expires_at=1_800_003_700,
        remixed_from_video_id="video_0",
    )

    status = await fetch_with(make_provider, answer(body))

    assert status.completed_at == 1_800_000_100
    assert status.expires_at == 1_800_003_700
    assert status.remixed_from == "video_0"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"{not json"),
        httpx.Response(200, content=b"<html>Bad gateway</html>"),
        httpx.Response(200, content=b"[" * 100_000),
        httpx.Response(200, json=[video()]),
        httpx.Response(200, json="video_1"),
        httpx.Response(200, json=None),
    ],
    ids=["truncated", "html", "deep-nesting", "array", "string", "null"],
)
async def test_malformed_or_non_object_json_is_a_protocol_error(
    make_provider: MakeProvider, response: httpx.Response
) -> None:
    with pytest.raises(ProtocolError, match="fetch video video_1"):
        await fetch_with(make_provider, response)


@pytest.mark.parametrize(
    "overrides",
    [
        {"progress": 101},
        {"progress": -1},
        {"progress": "50"},
        {"progress": True},
        {"status": None},
        {"status": 3},
        {"created_at": "yesterday"},
        {"created_at": None},
        {"created_at": float("inf")},
        {"seconds": "four"},
        {"object": "file"},
        {"error": "boom", "status": "failed"},
        {"prompt": 12},
        {"remixed_from_video_id": "video 1"},
        {"remixed_from_video_id": ".."},
    ],
)
async def test_missing_or_invalid_fields_are_protocol_errors(
    make_provider: MakeProvider, overrides: dict[str, Any]
) -> None:
    response = httpx.Response(200, content=json.dumps(video(**overrides)).encode())

    with pytest.raises(ProtocolError):
        await fetch_with(make_provider, response)


@pytest.mark.parametrize(
    ("bad_id", "problem"),
    [
        ("video\n1", "character 6 is U+000A (whitespace)"),
        ("video\x001", "character 6 is U+0000 (not a printable character)"),
        ("video\u202e1", "character 6 is U+202E (not a printable character)"),
        (" video", "character 1 is U+0020 (whitespace)"),
        ("..", "it is made only of dots"),
        ("x" * 1025, "it is 1025 characters long; at most 1024 are allowed"),
        ("", "it is empty"),
        (None, "not a string"),
        (42, "not a string"),
    ],
)
async def test_hostile_ids_from_the_server_are_protocol_errors(
    make_provider: MakeProvider, bad_id: object, problem: str
) -> None:
    with pytest.raises(ProtocolError, match="id") as caught:
        await fetch_with(make_provider, answer(video(bad_id)))  # type: ignore[arg-type]

    assert problem in caught.value.message


@pytest.mark.parametrize(
    "opaque_id", ["../x", "a/b", "a..b", "x" * 1024, "vidéo", "dmlkZW8+Pz8/fn4=", "C:\\x"]
)
async def test_opaque_ids_from_the_server_are_kept_exactly(
    make_provider: MakeProvider, opaque_id: str
) -> None:
    provider, recorder = make_provider(lambda request: answer(video(opaque_id)))

    status = await provider.fetch(opaque_id)

    assert status.remote_id == opaque_id
    (request,) = recorder.requests
    assert request.url.raw_path == b"/v1/videos/" + quote(opaque_id, safe="").encode()


async def test_an_answer_about_another_video_is_refused(
    make_provider: MakeProvider,
) -> None:
    with pytest.raises(ProtocolError, match="video_2"):
        await fetch_with(make_provider, answer(video("video_2")))


async def test_missing_progress_defaults_from_the_status(make_provider: MakeProvider) -> None:
    body = video(status="completed")
    del body["progress"]

    status = await fetch_with(make_provider, answer(body))

    assert status.progress == 100


async def test_oversized_body_is_refused_early(
    make_provider: MakeProvider,
) -> None:
    stream = ChunkedStream(b"x" * (8 * 1024 * 1024), chunk=64 * 1024)

    with pytest.raises(ProtocolError, match="larger than"):
        await fetch_with(make_provider, httpx.Response(200, stream=stream))

    assert stream.yielded <= 1024 * 1024 + 64 * 1024


async def test_oversized_content_length_is_refused_unread(
    make_provider: MakeProvider,
) -> None:
    stream = ChunkedStream(b"x" * 1000)
    response = httpx.Response(200, stream=stream, headers={"content-length": str(50 * 1024 * 1024)})

    with pytest.raises(ProtocolError, match="bytes"):
        await fetch_with(make_provider, response)

    assert stream.yielded == 0


@pytest.mark.parametrize("header", ["soon", "-5", "nan", "1e400"])
async def test_unreadable_poll_hint_is_ignored(make_provider: MakeProvider, header: str) -> None:
    status = await fetch_with(make_provider, answer(video(), **{"openai-poll-after-ms": header}))

    assert status.poll_after is None
