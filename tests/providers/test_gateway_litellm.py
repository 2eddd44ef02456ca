"""The adapter against LiteLLM's proxy, replayed from answers recorded from a real one.

The recordings (``data/litellm-1.110.2``) are served byte for byte from a raw loopback socket.
What the proxy does differently from the protocol, and what the adapter makes of it:

* its ids are long base64 (kept exactly, percent-encoded in paths);
* no ``x-request-id``: the request id is its ``x-litellm-call-id``;
* the upstream's error JSON only inside its own ``error.message``: unwrapped;
* list answers 400, delete 405: :class:`UnsupportedOperationError`, sent once;
* ``Range`` ignored (200 with the whole body): ``range_supported`` is False;
* ``variant=thumbnail`` dropped, the MP4 served instead: :class:`AssetMismatchError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import pytest
from litellm_replay import recorded, recorded_header, recorded_json
from openai_fakes import media

from hostile import HostileServer, Reply, Request
from reelforge.core.errors import (
    AssetMismatchError,
    DownloadError,
    EndpointGoneError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
    UnsupportedOperationError,
)
from reelforge.core.models import JobSpec, RemoteState, RemoteStatus, Variant
from reelforge.providers import OpenAIVideosProvider
from reelforge.providers._errors import VideoNotReadyError

Handler = Callable[[Request], Reply]
Serve = Callable[[Handler], tuple[OpenAIVideosProvider, HostileServer]]
T = TypeVar("T")
SPEC = JobSpec(prompt="A lighthouse at dawn", model="sora-2", seconds=4, size="720x1280")
REMOTE_ID: str = recorded_json("create")["id"]
ITEM = "/v1/videos/" + quote(REMOTE_ID, safe="")
MP4 = media(Variant.VIDEO)


@pytest.fixture
def hostile_key() -> str:
    return "sk-gateway-master-1234"


async def returns(awaitable: Awaitable[T]) -> T:
    async with asyncio.timeout(20):
        return await awaitable


async def collect(statuses: AsyncIterator[RemoteStatus]) -> list[RemoteStatus]:
    return [status async for status in statuses]


def tree(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def litellm(request: Request) -> Reply:
    """The proxy as recorded: one completed video, content for every variant is the MP4."""
    if request.method == "POST" and request.path == "/v1/videos":
        return recorded("create")
    if request.path == "/v1/videos" and request.method == "GET":
        return recorded("list")
    if request.path == ITEM and request.method == "GET":
        return recorded("retrieve_completed")
    if request.path == ITEM and request.method == "DELETE":
        return recorded("delete")
    if request.path == ITEM + "/content":
        name = "content_video_range" if "range" in request.headers else "content_video"
        if request.query.get("variant") == "thumbnail":
            name = "content_thumbnail"
        return recorded(name, body=MP4)
    return recorded("error_route_not_found")


async def test_a_recorded_litellm_session_end_to_end(serve: Serve, tmp_path: Path) -> None:
    provider, server = serve(litellm)

    created = await returns(provider.submit(SPEC))
    status = await returns(provider.fetch(created.remote_id))
    video = await returns(provider.download(created.remote_id, Variant.VIDEO, tmp_path / "v.mp4"))
    with pytest.raises(AssetMismatchError) as mismatch:
        await returns(provider.download(created.remote_id, Variant.THUMBNAIL, tmp_path / "t.webp"))
    with pytest.raises(UnsupportedOperationError) as listing:
        await returns(collect(provider.list_recent()))
    with pytest.raises(UnsupportedOperationError) as deleting:
        await returns(provider.delete(created.remote_id))

    assert created.remote_id == REMOTE_ID
    assert len(REMOTE_ID) == 242
    assert created.prompt is None  # LiteLLM does not echo it
    assert created.request_id == recorded_header("create", "x-litellm-call-id")
    assert created.token is None
    assert status.state is RemoteState.COMPLETED
    assert status.request_id == recorded_header("retrieve_completed", "x-litellm-call-id")
    assert status.poll_after is None
    assert video.path.read_bytes() == MP4
    assert video.range_supported is None  # nothing was resumed
    assert (mismatch.value.variant, mismatch.value.found) == ("thumbnail", "video/mp4")
    assert listing.value.operation == "list"
    assert deleting.value.operation == "delete"
    assert tree(tmp_path) == ["v.mp4"]
    assert [(r.method, r.target.split("?")[0]) for r in server.requests] == [
        ("POST", "/v1/videos"),
        ("GET", ITEM),
        ("GET", ITEM + "/content"),
        ("GET", ITEM + "/content"),
        ("GET", "/v1/videos"),
        ("DELETE", ITEM),
    ]


async def test_the_upstream_error_inside_litellm_s_message_is_unwrapped(serve: Serve) -> None:
    provider, server = serve(lambda request: recorded("error_invalid_seconds"))
    alias = JobSpec(prompt="A fox", model="my-video-model", seconds=10, size="720x1280")

    with pytest.raises(InvalidRequestError) as caught:
        await returns(provider.submit(alias))

    error = caught.value
    assert error.message == (
        "create a video failed: Invalid value: '10'. Supported values are: '4', '8', and '12'."
    )
    assert (error.param, error.code, error.status_code) == ("seconds", "invalid_value", 400)
    assert error.request_id == recorded_header("error_invalid_seconds", "x-litellm-call-id")
    assert "litellm" not in str(error).lower()
    assert len(server.requests) == 1


async def test_an_unwrapped_size_error_names_its_param(serve: Serve) -> None:
    provider, _ = serve(lambda request: recorded("error_invalid_size"))

    with pytest.raises(InvalidRequestError) as caught:
        await returns(provider.submit(SPEC))

    assert caught.value.param == "size"
    assert "Supported values are: '720x1280' and '1280x720'" in caught.value.message


async def test_a_video_not_found_upstream_is_not_found_with_the_upstream_code(
    serve: Serve,
) -> None:
    provider, server = serve(lambda request: recorded("error_video_not_found"))

    with pytest.raises(NotFoundError) as caught:
        await returns(provider.fetch(REMOTE_ID))

    assert type(caught.value) is NotFoundError
    assert (caught.value.code, caught.value.param) == ("not_found", "video_id")
    assert "No video found with id 'video_doesnotexist'." in caught.value.message
    assert len(server.requests) == 1


async def test_content_not_ready_upstream_is_video_not_ready(serve: Serve, tmp_path: Path) -> None:
    provider, server = serve(lambda request: recorded("error_content_not_ready"))

    for variant in (Variant.VIDEO, Variant.THUMBNAIL):
        with pytest.raises(VideoNotReadyError) as caught:
            await returns(provider.download(REMOTE_ID, variant, tmp_path / variant.filename))
        assert caught.value.code == "video_not_ready"
        assert "Video is not ready yet. Current status: queued." in caught.value.message

    assert len(server.requests) == 2  # no status check: the answer said why
    assert tree(tmp_path) == []


async def test_a_model_the_gateway_does_not_route_is_endpoint_gone(serve: Serve) -> None:
    provider, server = serve(lambda request: recorded("error_unknown_model"))

    with pytest.raises(EndpointGoneError, match="Invalid model name passed in model=kling-9"):
        await returns(provider.submit(JobSpec(prompt="A fox", model="kling-9")))

    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("error_missing_prompt", "/videos: Missing required parameter: 'prompt'."),
        ("error_unknown_key", "No connected db."),
    ],
)
async def test_the_gateway_s_own_errors_are_read_as_they_are(
    serve: Serve, name: str, message: str
) -> None:
    provider, _ = serve(lambda request: recorded(name))

    with pytest.raises(InvalidRequestError) as caught:
        await returns(provider.submit(SPEC))

    assert caught.value.message == f"create a video failed: {message}"


async def test_an_id_the_gateway_did_not_wrap_is_a_transient_error_after_retries(
    serve: Serve,
) -> None:
    provider, server = serve(lambda request: recorded("error_unwrapped_id"))

    with pytest.raises(TransientError, match=r"Cannot connect to host api\.openai\.com"):
        await returns(provider.fetch("video_doesnotexist"))

    assert len(server.requests) == 3


async def test_list_answered_400_by_litellm_is_unsupported_and_sent_once(serve: Serve) -> None:
    provider, server = serve(lambda request: recorded("list"))

    with pytest.raises(UnsupportedOperationError) as caught:
        await returns(collect(provider.list_recent()))

    assert caught.value.operation == "list"
    assert caught.value.status_code == 400
    assert caught.value.message.startswith(
        f"the endpoint at {server.base_url} cannot list videos (HTTP 400: LLM Provider NOT "
        "provided. Pass in the LLM provider you are trying to call."
    )
    assert caught.value.request_id == recorded_header("list", "x-litellm-call-id")
    assert len(server.requests) == 1


async def test_delete_answered_405_by_litellm_is_unsupported_and_sent_once(serve: Serve) -> None:
    provider, server = serve(lambda request: recorded("delete"))

    with pytest.raises(UnsupportedOperationError) as caught:
        await returns(provider.delete(REMOTE_ID))

    assert caught.value.operation == "delete"
    assert caught.value.message == (
        f"the endpoint at {server.base_url} cannot delete videos (HTTP 405: Method Not Allowed)"
    )
    assert len(server.requests) == 1


async def test_range_ignored_by_litellm_restarts_and_says_so(serve: Serve, tmp_path: Path) -> None:
    def handler(request: Request) -> Reply:
        if "range" in request.headers:
            return recorded("content_video_range", body=MP4)
        reply = recorded("content_video", body=MP4)
        reply.drop_after = len(MP4) // 2  # the first answer is cut off halfway
        return reply

    provider, server = serve(handler)

    result = await returns(provider.download(REMOTE_ID, Variant.VIDEO, tmp_path / "video.mp4"))

    assert result.range_supported is False
    assert result.resumed == 0
    assert result.path.read_bytes() == MP4
    assert [r.headers.get("range") for r in server.requests] == [None, f"bytes={len(MP4) // 2}-"]


@pytest.mark.parametrize("variant", [Variant.THUMBNAIL, Variant.SPRITESHEET])
async def test_a_variant_served_as_the_mp4_is_a_mismatch_and_nothing_is_kept(
    serve: Serve, tmp_path: Path, variant: Variant
) -> None:
    provider, server = serve(lambda request: recorded(f"content_{variant.value}", body=MP4))
    dest = tmp_path / variant.filename

    for _ in range(2):
        with pytest.raises(AssetMismatchError) as caught:
            await returns(provider.download(REMOTE_ID, variant, dest))
        assert isinstance(caught.value, DownloadError)
        assert caught.value.variant == variant.value
        assert caught.value.found == "video/mp4"
        assert "the bytes look like an MP4 video" in caught.value.message
        assert tree(tmp_path) == []  # no file, no .part a later call would resume

    assert [r.headers.get("range") for r in server.requests] == [None, None]
