"""Remote ids are opaque: up to 1,024 printable characters, percent-encoded in every URL path.

A gateway wraps the upstream id in its own (LiteLLM: ``video_`` + base64, ``+ / =`` included).
Each test plays the server on a raw loopback socket and checks what it received: every path
built from an id carries it as one percent-encoded segment, and the id comes back unchanged.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litellm_replay import wrapped_id
from openai_fakes import media, video

from hostile import HostileServer, Reply, Request, json_reply
from reelforge.core.errors import AmbiguousSubmissionError, ProtocolError
from reelforge.core.models import JobSpec, RemoteState, Variant
from reelforge.providers import OpenAIVideosProvider
from reelforge.providers._wire import (
    MAX_ID_LENGTH,
    check_id,
    id_problem,
    id_segment,
    is_valid_id,
)

SPEC = JobSpec(prompt="A lighthouse at dawn", model="sora-2", seconds=4, size="720x1280")
Handler = Callable[[Request], Reply]
Serve = Callable[[Handler], tuple[OpenAIVideosProvider, HostileServer]]
T = TypeVar("T")


async def returns(awaitable: Awaitable[T]) -> T:
    async with asyncio.timeout(20):
        return await awaitable


def tree(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


class OneVideo:
    """A server holding one video under ``remote_id``: create, retrieve, content, delete."""

    def __init__(self, remote_id: str) -> None:
        self.remote_id = remote_id
        self.item = "/v1/videos/" + quote(remote_id, safe="")

    def __call__(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == "/v1/videos":
            return json_reply(video(self.remote_id))
        if request.path == self.item and request.method == "GET":
            return json_reply(video(self.remote_id, status="completed", progress=100))
        if request.path == self.item + "/content":
            return Reply(headers=[("Content-Type", "video/mp4")], body=media(Variant.VIDEO))
        if request.path == self.item and request.method == "DELETE":
            return json_reply({"id": self.remote_id, "object": "video.deleted", "deleted": True})
        return json_reply({"error": {"message": "no such route"}}, status=404)


async def test_a_1000_character_base64_id_round_trips_percent_encoded(
    serve: Serve, tmp_path: Path
) -> None:
    remote_id = wrapped_id(1000)
    server_side = OneVideo(remote_id)
    provider, server = serve(server_side)
    dest = tmp_path / "job" / "video.mp4"

    created = await returns(provider.submit(SPEC))
    fetched = await returns(provider.fetch(created.remote_id))
    result = await returns(provider.download(created.remote_id, Variant.VIDEO, dest))
    await returns(provider.delete(created.remote_id))

    assert created.remote_id == fetched.remote_id == remote_id
    assert fetched.state is RemoteState.COMPLETED
    assert result.path.read_bytes() == media(Variant.VIDEO)
    assert tree(tmp_path) == ["job", "job/video.mp4"]  # the id names no file or folder
    targets = [request.target for request in server.requests]
    segment = quote(remote_id, safe="")
    assert targets == [
        "/v1/videos",
        f"/v1/videos/{segment}",
        f"/v1/videos/{segment}/content?variant=video",
        f"/v1/videos/{segment}",
    ]
    for target in targets[1:]:
        raw_segment = target.split("?")[0].split("/")[3]
        assert "/" not in raw_segment
        assert "+" not in raw_segment
        assert "=" not in raw_segment
        assert unquote(raw_segment) == remote_id


async def test_a_remix_of_an_opaque_id_is_one_encoded_segment(serve: Serve) -> None:
    remote_id = wrapped_id(300)
    provider, server = serve(lambda request: json_reply(video("video_2")))

    await returns(provider.remix(remote_id, "again, at night"))

    (request,) = server.requests
    assert request.target == "/v1/videos/" + quote(remote_id, safe="") + "/remix"


async def test_a_1024_character_id_is_the_longest_accepted(serve: Serve) -> None:
    longest = wrapped_id(MAX_ID_LENGTH)
    provider, _ = serve(OneVideo(longest))

    status = await returns(provider.fetch(longest))

    assert status.remote_id == longest


@pytest.mark.parametrize(
    ("bad_id", "problem"),
    [
        ("video_1\x07", "character 8 is U+0007 (not a printable character)"),
        ("video 1", "character 6 is U+0020 (whitespace)"),
        ("video_1\u00a0", "character 8 is U+00A0 (whitespace)"),
        ("x" * 1025, "it is 1025 characters long; at most 1024 are allowed"),
        ("x" * 5_000_000, "it is 5000000 characters long; at most 1024 are allowed"),
        ("", "it is empty"),
    ],
    ids=["control", "space", "nbsp", "1025", "huge", "empty"],
)
async def test_an_unusable_id_from_the_caller_is_refused_before_sending(
    serve: Serve, tmp_path: Path, bad_id: str, problem: str
) -> None:
    provider, server = serve(OneVideo("video_1"))

    for operation in (
        provider.fetch(bad_id),
        provider.download(bad_id, Variant.VIDEO, tmp_path / "video.mp4"),
        provider.delete(bad_id),
        provider.remix(bad_id, "again"),
    ):
        with pytest.raises(ProtocolError) as caught:
            await returns(operation)
        assert caught.value.message == f"not a valid video id: {problem}; nothing was sent"

    assert server.requests == []
    assert tree(tmp_path) == []


@pytest.mark.parametrize(
    ("bad_id", "problem"),
    [
        ("video_1\n", "character 8 is U+000A (whitespace)"),
        ("video\x00", "character 6 is U+0000 (not a printable character)"),
        ("v" * 1025, "it is 1025 characters long; at most 1024 are allowed"),
    ],
    ids=["newline", "nul", "1025"],
)
async def test_an_unusable_id_from_the_server_is_a_protocol_error_that_does_not_echo_it(
    serve: Serve, bad_id: str, problem: str
) -> None:
    provider, server = serve(lambda request: json_reply(video(bad_id)))

    with pytest.raises(ProtocolError) as fetched:
        await returns(provider.fetch("video_1"))
    with pytest.raises(AmbiguousSubmissionError) as created:
        await returns(provider.submit(SPEC))

    assert problem in fetched.value.message
    assert "video id is not usable" in fetched.value.message
    assert len(str(fetched.value)) < 300
    assert problem in created.value.message  # the create may have made a video: ambiguous
    assert len(server.received("POST", "/v1/videos")) == 1


@pytest.mark.parametrize(
    "value",
    ["video_1", "a/b", "../x", "x=", "+", "vidéo", "名前", "a..b", "[x]", "x" * 1024],
)
def test_any_printable_id_is_usable(value: str) -> None:
    assert id_problem(value) is None
    assert is_valid_id(value)
    assert check_id(value) == value


@pytest.mark.parametrize(
    "value", ["", ".", "..", "...", "a b", "a\tb", "\u200b", "\u202e", "\ud800", "a[redacted]"]
)
def test_unusable_ids(value: str) -> None:
    assert id_problem(value) is not None
    assert not is_valid_id(value)


@pytest.mark.parametrize("value", [None, 42, b"video_1", ["video_1"]])
def test_an_id_that_is_not_a_string_is_refused(value: Any) -> None:
    assert not is_valid_id(value)
    with pytest.raises(ProtocolError, match="not a string"):
        check_id(value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=1100) | st.text(st.characters(codec="ascii"), min_size=1000, max_size=1030))
def test_every_id_is_one_url_segment_or_refused_in_a_few_words(value: str) -> None:
    problem = id_problem(value)
    if problem is not None:
        assert len(problem) < 80
        assert not is_valid_id(value)
        return
    segment = id_segment(value)
    assert unquote(segment) == value
    assert set(segment) <= set(string.ascii_letters + string.digits + "-._~%")  # unreserved
    assert segment.strip(".")  # never a dot segment
