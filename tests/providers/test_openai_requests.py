"""What the adapter sends: create bodies, pagination, remix, delete; and its public surface."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai_fakes import MakeProvider, video

from reelforge import providers
from reelforge.core.errors import ConfigError, InvalidSpecError, ProtocolError
from reelforge.core.models import JobSpec, RemoteState
from reelforge.providers import OpenAIVideosProvider, Provider


def echo_create(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=video("video_new"))


async def test_submit_sends_json_with_seconds_as_a_string(make_provider: MakeProvider) -> None:
    provider, recorder = make_provider(echo_create)

    status = await provider.submit(JobSpec(prompt="A kite", seconds=8, size="16:9"))

    assert status.remote_id == "video_new"
    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.url.path == "/v1/videos"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "prompt": "A kite",
        "model": "sora-2",
        "seconds": "8",
        "size": "1280x720",
    }


async def test_the_idempotency_token_is_not_sent_the_protocol_has_no_field_for_it(
    make_provider: MakeProvider,
) -> None:
    provider, recorder = make_provider(echo_create)
    token = "rf-token-5f1c2d"

    status = await provider.submit(JobSpec(prompt="A kite"), token=token)

    (request,) = recorder.requests
    assert set(json.loads(request.content)) == {"prompt", "model", "seconds", "size"}
    assert token not in request.content.decode()
    assert token not in str(request.url)
    assert all(token not in value for value in request.headers.values())
    assert status.token is None  # nothing comes back to match on


@pytest.mark.parametrize(
    ("suffix", "media_type"),
    [
        (".png", "image/png"),
        (".JPG", "image/jpeg"),
        (".jpeg", "image/jpeg"),
        (".webp", "image/webp"),
    ],
)
async def test_a_reference_image_is_sent_as_multipart(
    make_provider: MakeProvider, tmp_path: Path, suffix: str, media_type: str
) -> None:
    image = tmp_path / f"ref{suffix}"
    image.write_bytes(b"\x89PNG fake image bytes")
    provider, recorder = make_provider(echo_create)

    await provider.submit(JobSpec(prompt="Animate", input_reference=image))

    request = recorder.requests[0]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = request.content
    assert b'name="seconds"\r\n\r\n4\r\n' in body
    assert b'name="prompt"\r\n\r\nAnimate\r\n' in body
    assert f'name="input_reference"; filename="ref{suffix}"'.encode() in body
    assert f"Content-Type: {media_type}".encode() in body
    assert b"\x89PNG fake image bytes" in body


async def test_a_reference_that_is_not_an_image_is_refused_before_sending(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    document = tmp_path / "ref.pdf"
    document.write_bytes(b"%PDF")
    provider, recorder = make_provider(echo_create)

    with pytest.raises(InvalidSpecError) as caught:
        await provider.submit(JobSpec(prompt="Animate", input_reference=document))

    assert caught.value.field == "input_reference"
    assert recorder.requests == []


@pytest.mark.parametrize(
    "spec",
    [
        JobSpec(prompt="   "),
        JobSpec(prompt="A kite", seconds=10),
        JobSpec(prompt="A kite", size="1:1"),
        JobSpec(prompt="A kite", size="1024x1792"),
    ],
)
async def test_an_invalid_spec_is_never_sent(make_provider: MakeProvider, spec: JobSpec) -> None:
    provider, recorder = make_provider(echo_create)

    with pytest.raises(InvalidSpecError):
        await provider.submit(spec)

    assert recorder.requests == []


def page(ids: list[str], *, has_more: bool, created: list[int]) -> dict[str, Any]:
    data = [video(i, created_at=c) for i, c in zip(ids, created, strict=True)]
    return {
        "object": "list",
        "data": data,
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
        "has_more": has_more,
    }


async def test_list_recent_follows_three_pages(make_provider: MakeProvider) -> None:
    pages = {
        None: page(["v9", "v8", "v7"], has_more=True, created=[90, 80, 70]),
        "v7": page(["v6", "v5", "v4"], has_more=True, created=[60, 50, 40]),
        "v4": page(["v3", "v2"], has_more=False, created=[30, 20]),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("after")])

    provider, recorder = make_provider(handler)

    listed = [status.remote_id async for status in provider.list_recent()]

    assert listed == ["v9", "v8", "v7", "v6", "v5", "v4", "v3", "v2"]
    assert [r.url.params.get("after") for r in recorder.requests] == [None, "v7", "v4"]
    assert all(r.url.params["order"] == "desc" for r in recorder.requests)


async def test_list_recent_stops_once_jobs_are_older_than_since(
    make_provider: MakeProvider,
) -> None:
    pages = {
        None: page(["v9", "v8"], has_more=True, created=[90, 80]),
        "v8": page(["v7", "v6"], has_more=True, created=[70, 60]),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("after")])

    provider, recorder = make_provider(handler)

    listed = [status.remote_id async for status in provider.list_recent(since=70)]

    assert listed == ["v9", "v8", "v7"]
    assert len(recorder.requests) == 2


async def test_list_recent_filters_a_server_that_ignores_order(make_provider: MakeProvider) -> None:
    body = page(["v1", "v2", "v3"], has_more=False, created=[10, 20, 30])
    provider, _ = make_provider(lambda request: httpx.Response(200, json=body))

    listed = [status.remote_id async for status in provider.list_recent(since=15)]

    assert listed == ["v2", "v3"]


async def test_list_recent_refuses_a_cursor_that_does_not_advance(
    make_provider: MakeProvider,
) -> None:
    body = page(["v9"], has_more=True, created=[90])
    provider, recorder = make_provider(lambda request: httpx.Response(200, json=body))

    with pytest.raises(ProtocolError, match="cursor"):
        async for _ in provider.list_recent():
            pass

    assert len(recorder.requests) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"object": "list", "data": "nope", "has_more": False},
        {"object": "list", "data": [], "has_more": "yes"},
        {"object": "list", "data": [{"id": "video\t1", "status": "queued", "created_at": 1}]},
        [],
    ],
)
async def test_malformed_list_pages_are_protocol_errors(
    make_provider: MakeProvider, body: object
) -> None:
    provider, _ = make_provider(lambda request: httpx.Response(200, json=body))

    with pytest.raises(ProtocolError):
        async for _ in provider.list_recent():
            pass


async def test_remix_posts_the_prompt(make_provider: MakeProvider) -> None:
    remixed = video("video_2", remixed_from_video_id="video_1")
    provider, recorder = make_provider(lambda request: httpx.Response(200, json=remixed))

    status = await provider.remix("video_1", "Make it night")

    assert status.remixed_from == "video_1"
    assert status.state is RemoteState.QUEUED
    assert recorder.requests[0].url.path == "/v1/videos/video_1/remix"
    assert json.loads(recorder.requests[0].content) == {"prompt": "Make it night"}


async def test_delete_checks_the_confirmation(make_provider: MakeProvider) -> None:
    confirmation = {"id": "video_1", "object": "video.deleted", "deleted": True}
    provider, recorder = make_provider(lambda request: httpx.Response(200, json=confirmation))

    await provider.delete("video_1")

    assert recorder.requests[0].method == "DELETE"
    assert recorder.requests[0].url.path == "/v1/videos/video_1"


async def test_an_unconfirmed_delete_is_a_protocol_error(make_provider: MakeProvider) -> None:
    refusal = {"id": "video_1", "object": "video.deleted", "deleted": False}
    provider, _ = make_provider(lambda request: httpx.Response(200, json=refusal))

    with pytest.raises(ProtocolError, match="did not confirm"):
        await provider.delete("video_1")


@pytest.mark.parametrize("base_url", ["ftp://example.com/v1", "not a url", "/v1", "https://[::1"])
def test_an_unusable_base_url_is_a_config_error(base_url: str) -> None:
    with pytest.raises(ConfigError):
        OpenAIVideosProvider(httpx.AsyncClient(), base_url=base_url)


def test_credentials_in_the_base_url_never_show(make_provider: MakeProvider) -> None:
    provider, _ = make_provider(echo_create, base_url="https://user:hunter2@gw.example/v1")

    assert "hunter2" not in repr(provider)
    assert provider.base_url == "https://gw.example/v1"


def test_public_surface() -> None:
    assert providers.__all__ == sorted(providers.__all__)
    assert {"OpenAIVideosProvider", "Provider", "RetryPolicy"} <= set(providers.__all__)


def test_the_adapter_is_a_provider(make_provider: MakeProvider) -> None:
    provider, _ = make_provider(echo_create)

    assert isinstance(provider, Provider)
    assert provider.name == "openai"
    assert provider.capabilities("sora-2-pro").known
    assert not provider.capabilities("veo-3.1").known
