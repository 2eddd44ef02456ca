"""Operations an endpoint may not offer: list, delete, thumbnails and spritesheets.

A gateway that cannot list answers 400/404/405/501; one without delete answers 405/501; one
that cannot serve a variant answers 400/404/405/415/501. Each raises
:class:`UnsupportedOperationError` naming the operation, after exactly one request (retrying
cannot help), unless the answer says more: the whole API gone, the video not ready or expired.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from openai_fakes import error_body, media, video

from hostile import HostileServer, Reply, Request, json_reply
from reelforge.core.errors import (
    AssetExpiredError,
    EndpointGoneError,
    NotFoundError,
    UnsupportedOperationError,
)
from reelforge.core.models import RemoteStatus, Variant
from reelforge.providers import OpenAIVideosProvider
from reelforge.providers._errors import VideoNotReadyError

Handler = Callable[[Request], Reply]
Serve = Callable[[Handler], tuple[OpenAIVideosProvider, HostileServer]]
T = TypeVar("T")
NOW = 1_800_000_000.0  # the FakeClock's start


async def returns(awaitable: Awaitable[T]) -> T:
    async with asyncio.timeout(20):
        return await awaitable


async def collect(statuses: AsyncIterator[RemoteStatus]) -> list[RemoteStatus]:
    return [status async for status in statuses]


def answer(status: int, body: bytes = b"") -> Reply:
    """An error answer; ``body`` JSON when it starts with ``{``."""
    kind = "application/json" if body.startswith(b"{") else "text/plain"
    return Reply(status=status, headers=[("Content-Type", kind)], body=body, reason="No")


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (400, b'{"error": {"message": "LLM Provider NOT provided"}}', "LLM Provider NOT provided"),
        (404, b'{"detail": "Not Found"}', "Not Found"),
        (405, b'{"detail": "Method Not Allowed"}', "Method Not Allowed"),
        (501, b"Not Implemented", "Not Implemented"),
        (501, b"", ""),
    ],
)
async def test_list_refused_is_unsupported_after_one_request(
    serve: Serve, status: int, body: bytes, reason: str
) -> None:
    provider, server = serve(lambda request: answer(status, body))

    with pytest.raises(UnsupportedOperationError) as caught:
        await returns(collect(provider.list_recent()))

    shown = f"HTTP {status}: {reason}" if reason else f"HTTP {status}"
    assert caught.value.message == (
        f"the endpoint at {server.base_url} cannot list videos ({shown})"
    )
    assert caught.value.operation == "list"
    assert caught.value.status_code == status
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [404, 410])
async def test_list_answered_by_a_bare_web_server_page_is_still_endpoint_gone(
    serve: Serve, status: int
) -> None:
    provider, server = serve(lambda request: answer(status, b"<html>Not Found</html>"))

    with pytest.raises(EndpointGoneError, match="does not serve the OpenAI Videos API"):
        await returns(collect(provider.list_recent()))

    assert len(server.requests) == 1


async def test_list_failing_with_5xx_is_retried_not_unsupported(serve: Serve) -> None:
    replies = iter([answer(502), answer(503), json_reply({"object": "list", "data": []})])
    provider, server = serve(lambda request: next(replies))

    assert await returns(collect(provider.list_recent())) == []
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [405, 501])
async def test_delete_refused_is_unsupported_after_one_request(serve: Serve, status: int) -> None:
    provider, server = serve(lambda request: answer(status, b'{"detail": "Method Not Allowed"}'))

    with pytest.raises(UnsupportedOperationError) as caught:
        await returns(provider.delete("video_1"))

    assert caught.value.operation == "delete"
    assert caught.value.message == (
        f"the endpoint at {server.base_url} cannot delete videos "
        f"(HTTP {status}: Method Not Allowed)"
    )
    assert len(server.requests) == 1


async def test_delete_of_a_video_that_is_not_there_is_still_not_found(serve: Serve) -> None:
    provider, _ = serve(lambda request: json_reply(error_body("No video found"), status=404))

    with pytest.raises(NotFoundError) as caught:
        await returns(provider.delete("video_1"))

    assert not isinstance(caught.value, UnsupportedOperationError)


def variant_server(refusal: Reply, job: dict[str, object]) -> Handler:
    """Content answers ``refusal`` for every variant but the video; the job is ``job``."""

    def handler(request: Request) -> Reply:
        if request.path.endswith("/content"):
            if request.query.get("variant") == "video":
                return Reply(headers=[("Content-Type", "video/mp4")], body=media(Variant.VIDEO))
            return refusal
        return json_reply(job)

    return handler


COMPLETED = video(status="completed", progress=100, completed_at=NOW, expires_at=NOW + 3600)


@pytest.mark.parametrize("variant", [Variant.THUMBNAIL, Variant.SPRITESHEET])
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, b'{"error": {"message": "Invalid variant"}}'),
        (404, b'{"error": {"message": "No such asset"}}'),
        (404, b"Not Found"),
        (405, b'{"detail": "Method Not Allowed"}'),
        (415, b""),
        (501, b"Not Implemented"),
    ],
)
async def test_a_variant_refused_while_the_video_is_completed_is_unsupported(
    serve: Serve, tmp_path: Path, variant: Variant, status: int, body: bytes
) -> None:
    provider, server = serve(variant_server(answer(status, body), COMPLETED))

    with pytest.raises(UnsupportedOperationError) as caught:
        await returns(provider.download("video_1", variant, tmp_path / variant.filename))

    assert caught.value.operation == f"variant:{variant.value}"
    assert caught.value.status_code == status
    assert caught.value.message.startswith(
        f"the endpoint at {server.base_url} cannot serve the {variant.value} of a video "
        f"(HTTP {status}"
    )
    # One content request (never retried), then the job itself: it exists and is completed.
    assert [r.path for r in server.requests] == ["/v1/videos/video_1/content", "/v1/videos/video_1"]
    assert not (tmp_path / variant.filename).exists()
    assert not (tmp_path / f"{variant.filename}.part").exists()


async def test_a_variant_refused_while_the_video_is_unfinished_is_not_ready(
    serve: Serve, tmp_path: Path
) -> None:
    running = video(status="in_progress", progress=40)
    provider, _ = serve(variant_server(answer(400, b'{"error": {"message": "no"}}'), running))

    with pytest.raises(VideoNotReadyError, match="the video is in_progress, not completed"):
        await returns(provider.download("video_1", Variant.THUMBNAIL, tmp_path / "t.webp"))


async def test_a_variant_refused_for_a_failed_video_is_not_found(
    serve: Serve, tmp_path: Path
) -> None:
    failed = video(status="failed", error={"code": "internal_error", "message": "boom"})
    provider, _ = serve(variant_server(answer(404, b'{"error": {"message": "none"}}'), failed))

    with pytest.raises(NotFoundError, match="the video is failed, not completed") as caught:
        await returns(provider.download("video_1", Variant.SPRITESHEET, tmp_path / "s.jpg"))

    assert type(caught.value) is NotFoundError


async def test_a_variant_refused_after_the_assets_expired_is_asset_expired(
    serve: Serve, tmp_path: Path
) -> None:
    expired = video(status="completed", progress=100, expires_at=NOW - 1)
    provider, _ = serve(variant_server(answer(404, b'{"error": {"message": "gone"}}'), expired))

    with pytest.raises(AssetExpiredError):
        await returns(provider.download("video_1", Variant.THUMBNAIL, tmp_path / "t.webp"))


async def test_a_variant_refused_for_a_video_that_does_not_exist_is_not_found(
    serve: Serve, tmp_path: Path
) -> None:
    missing = Reply(status=404, body=b'{"error": {"message": "No video found"}}')
    provider, server = serve(lambda request: missing)

    with pytest.raises(NotFoundError) as caught:
        await returns(provider.download("video_1", Variant.THUMBNAIL, tmp_path / "t.webp"))

    assert not isinstance(caught.value, UnsupportedOperationError)
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [400, 405, 415, 501])
async def test_the_video_variant_is_never_called_unsupported(
    serve: Serve, tmp_path: Path, status: int
) -> None:
    provider, _ = serve(lambda request: answer(status, b'{"error": {"message": "no"}}'))

    with pytest.raises(Exception) as caught:  # noqa: PT011  # the point is what it is not
        await returns(provider.download("video_1", Variant.VIDEO, tmp_path / "video.mp4"))

    assert not isinstance(caught.value, UnsupportedOperationError)
