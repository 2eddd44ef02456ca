"""The API key never survives a server's echo: not in a header, a body, an id or an error.

Unit tests of the redactor, then the adapter against a raw loopback server that echoes the key
in every place it can (each test checks what the server received and that the call returned).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from openai_fakes import video

from hostile import HostileServer, Reply, Request, json_reply
from reelforge.core.errors import (
    AmbiguousSubmissionError,
    AuthError,
    ErrorCategory,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    ReelforgeError,
    TransientError,
)
from reelforge.core.models import JobSpec, RemoteState, RemoteStatus, Variant
from reelforge.providers import OpenAIVideosProvider
from reelforge.providers._errors import read_envelope
from reelforge.providers._redact import REDACTED, Redactor, clean_text

KEY = "sk-proj-Zq7/Xv+93kLmNpQrStUvWx0123456789abcdefGHIJ"
SPEC = JobSpec(prompt="A lighthouse at dawn", model="sora-2", seconds=4, size="720x1280")


def json_escaped(text: str) -> str:
    """Every character as a JSON ``\\uXXXX`` escape."""
    return "".join(f"\\u{ord(char):04x}" for char in text)


def percent_encoded(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def fragments(text: str, size: int = 8) -> Iterator[str]:
    """Every run of ``size`` characters of ``text``."""
    for start in range(len(text) - size + 1):
        yield text[start : start + size]


def assert_no_key(*values: object) -> None:
    """Neither the key nor any 8-character run of it appears in ``values`` (their reprs)."""
    for value in values:
        text = repr(value) + str(value)
        leaked = [piece for piece in fragments(KEY) if piece in text]
        assert not leaked, f"part of the key leaked: {leaked[:3]} in {text[:300]}"


def assert_error_has_no_key(error: BaseException) -> None:
    assert_no_key(error, *vars(error).values())


# --- the redactor ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "echo",
    [
        KEY,
        f"Bearer {KEY}.",
        json_escaped(KEY),
        json_escaped(KEY[:10]) + KEY[10:],
        KEY.replace("/", "\\/"),
        percent_encoded(KEY),
        percent_encoded(KEY).lower(),
        base64.b64encode(KEY.encode()).decode(),
        base64.b64encode(f"user:{KEY}".encode()).decode(),
        base64.b64encode(f"ab{KEY}cd".encode()).decode(),
        base64.urlsafe_b64encode(f"a{KEY}".encode()).decode(),
    ],
    ids=[
        "verbatim",
        "bearer",
        "json-escaped",
        "partly-escaped",
        "escaped-slash",
        "percent",
        "percent-lower",
        "base64",
        "base64-basic",
        "base64-offset",
        "base64-urlsafe",
    ],
)
def test_every_echoed_form_of_the_key_is_redacted(echo: str) -> None:
    redactor = Redactor(KEY)
    plain = KEY.encode()

    text = redactor.text(f"before {echo} after")
    raw = redactor.raw(f"before {echo} after".encode())

    assert REDACTED in text
    assert text == raw.decode()
    assert echo not in text
    assert KEY not in text
    assert base64.b64encode(plain).decode()[4:-4] not in text


def test_decoded_json_is_redacted_in_keys_values_and_nested_containers() -> None:
    raw = json.dumps({KEY: [KEY, {"deep": [[f"x {KEY} y"]]}], "ok": 1, "n": None})
    escaped = raw.replace(KEY, json_escaped(KEY))  # the raw bytes show no key at all

    data = Redactor(KEY).json(json.loads(escaped))

    assert data == {REDACTED: [REDACTED, {"deep": [[f"x {REDACTED} y"]]}], "ok": 1, "n": None}


def test_ordinary_text_and_ids_are_left_alone() -> None:
    redactor = Redactor(KEY)
    body = json.dumps(video("video_68d7512d07848190b3e45da0ecbebcde0b")).encode()

    assert redactor.raw(body) == body
    assert redactor.text("req_abc/def+==") == "req_abc/def+=="


def test_without_a_key_nothing_changes() -> None:
    redactor = Redactor(None)
    headers = httpx.Headers({"x-request-id": "req_1"})

    assert redactor.text(KEY) == KEY
    assert redactor.raw(KEY.encode()) == KEY.encode()
    assert redactor.headers(headers) is headers


def test_clean_text_redacts_before_it_cuts() -> None:
    text = "x" * 95 + KEY

    cleaned = clean_text(text, limit=100, redactor=Redactor(KEY))

    assert_no_key(cleaned)
    assert len(cleaned) <= 100


def test_a_plain_error_body_is_redacted_before_the_2000_character_cut() -> None:
    body = ("a" * 1990 + KEY + "b" * 1000).encode()

    envelope = read_envelope(body, Redactor(KEY))

    assert envelope.message is not None
    assert envelope.message.startswith("a" * 1990 + REDACTED)
    assert len(envelope.message) == 2000
    assert_no_key(envelope.message)


# --- the adapter against a server that echoes the key ----------------------------------------


def echo_headers() -> list[tuple[str, str]]:
    """The key in every header a server might echo it in, in several encodings."""
    return [
        ("x-request-id", KEY),
        ("openai-poll-after-ms", KEY),
        ("retry-after", KEY),
        ("x-echo-authorization", f"Bearer {KEY}"),
        ("x-echo-escaped", json_escaped(KEY)),
        ("x-echo-percent", percent_encoded(KEY)),
        ("x-echo-basic", "Basic " + base64.b64encode(f"user:{KEY}".encode()).decode()),
    ]


def with_echo(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the key added in an extra field, a nested one and an object key."""
    return {**body, "echo": f"Bearer {KEY}", "metadata": {"auth": [KEY]}, KEY: True}


def escaped_json(data: dict[str, Any]) -> bytes:
    """JSON in which every occurrence of the key is written with ``\\u`` escapes."""
    return json.dumps(data).replace(KEY, json_escaped(KEY)).encode()


Handler = Callable[[Request], Reply]


@pytest.fixture
def hostile_key() -> str:
    """The key the ``serve`` fixture's provider sends (and the tests look for)."""
    return KEY


Serve = Callable[[Handler], tuple[OpenAIVideosProvider, HostileServer]]
T = TypeVar("T")


async def returns(awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result, failing the test if it does not return within 20 seconds."""
    async with asyncio.timeout(20):
        return await awaitable


async def test_a_video_echoing_the_key_everywhere_is_read_without_it(serve: Serve) -> None:
    body = with_echo(video(status="in_progress", progress=40))
    provider, server = serve(lambda request: json_reply(body, headers=echo_headers()))

    status: RemoteStatus = await returns(provider.fetch("video_1"))

    assert status.state is RemoteState.IN_PROGRESS
    assert status.progress == 40
    assert status.request_id is None  # "[redacted]" is no request id
    assert status.poll_after is None
    assert_no_key(status)
    (request,) = server.received("GET", "/v1/videos/video_1")
    assert request.headers["authorization"] == f"Bearer {KEY}"


async def test_a_key_hidden_behind_json_escapes_is_redacted(serve: Serve) -> None:
    failed = video(status="failed", error={"code": "internal_error", "message": f"bad {KEY}"})
    provider, _ = serve(
        lambda request: Reply(
            headers=[("Content-Type", "application/json")], body=escaped_json(with_echo(failed))
        )
    )

    status: RemoteStatus = await returns(provider.fetch("video_1"))

    assert status.error is not None
    assert status.error.message == f"bad {REDACTED}"
    assert_no_key(status)


async def test_a_failed_video_s_error_text_is_cleaned(serve: Serve) -> None:
    message = "moderation\x00blocked\r\n\x1b[31m" + KEY + " " + "z" * 5000
    failed = video(status="failed", error={"code": KEY, "message": message})
    provider, _ = serve(lambda request: json_reply(failed))

    status: RemoteStatus = await returns(provider.fetch("video_1"))

    assert status.error is not None
    assert status.error.category is ErrorCategory.CONTENT_POLICY
    assert status.error.message.startswith(f"moderation blocked [31m{REDACTED} zzz")
    assert len(status.error.message) <= 2000
    assert not any(ord(char) < 32 for char in status.error.message)
    assert status.error.code == REDACTED
    assert_no_key(status)


@pytest.mark.parametrize("field", ["id", "remixed_from_video_id"])
async def test_an_id_made_of_the_key_is_refused(serve: Serve, field: str) -> None:
    provider, _ = serve(lambda request: json_reply(video(**{field: KEY})))

    with pytest.raises(ProtocolError) as caught:
        await returns(provider.fetch("video_1"))

    assert_error_has_no_key(caught.value)


async def test_a_create_answered_with_the_key_as_id_is_ambiguous_and_sent_once(
    serve: Serve,
) -> None:
    provider, server = serve(lambda request: json_reply(video(KEY), headers=echo_headers()))

    with pytest.raises(AmbiguousSubmissionError) as caught:
        await returns(provider.submit(SPEC))

    assert isinstance(caught.value, ProtocolError)
    assert caught.value.request_id is None
    assert_error_has_no_key(caught.value)
    assert len(server.received("POST", "/v1/videos")) == 1


async def test_a_list_page_echoing_the_key_is_read_without_it(serve: Serve) -> None:
    page = with_echo(
        {
            "object": "list",
            "data": [with_echo(video("video_2")), with_echo(video("video_1"))],
            "has_more": False,
        }
    )
    provider, _ = serve(
        lambda request: Reply(
            headers=[("Content-Type", "application/json"), *echo_headers()],
            body=escaped_json(page),
        )
    )

    statuses: list[RemoteStatus] = await returns(_collect(provider.list_recent()))

    assert [status.remote_id for status in statuses] == ["video_2", "video_1"]
    assert_no_key(statuses)


async def test_a_list_cursor_made_of_the_key_is_refused(serve: Serve) -> None:
    page = {"object": "list", "data": [video()], "has_more": True, "last_id": KEY}
    provider, _ = serve(lambda request: json_reply(page))

    with pytest.raises(ProtocolError) as caught:
        await returns(_collect(provider.list_recent()))

    assert_error_has_no_key(caught.value)


async def _collect(statuses: AsyncIterator[RemoteStatus]) -> list[RemoteStatus]:
    return [status async for status in statuses]


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, AuthError), (404, NotFoundError), (500, TransientError), (429, RateLimitedError)],
)
async def test_a_json_error_echoing_the_key_becomes_an_error_without_it(
    serve: Serve, status: int, expected: type[ReelforgeError]
) -> None:
    body = with_echo({"error": {"message": f"Incorrect API key {KEY}", "code": KEY, "param": KEY}})
    headers = [*echo_headers(), ("retry-after-ms", "1")]
    provider, server = serve(lambda request: json_reply(body, status=status, headers=headers))

    with pytest.raises(expected) as caught:
        await returns(provider.fetch("video_1"))

    assert_error_has_no_key(caught.value)
    assert REDACTED in caught.value.message
    assert caught.value.request_id is None
    retried = status in (429, 500)
    assert len(server.received("GET", "/v1/videos/video_1")) == (3 if retried else 1)


@pytest.mark.parametrize("at", [480, 1995, 2000])
async def test_a_plain_error_body_with_the_key_across_a_cut_shows_none_of_it(
    serve: Serve, at: int
) -> None:
    body = ("e" * at + KEY).ljust(3000, "f").encode()
    provider, server = serve(
        lambda request: Reply(status=502, headers=[("Content-Type", "text/html")], body=body)
    )

    with pytest.raises(TransientError) as caught:
        await returns(provider.fetch("video_1"))

    assert_error_has_no_key(caught.value)
    assert len(server.received("GET", "/v1/videos/video_1")) == 3


async def test_a_gzip_error_body_is_redacted_after_it_is_inflated(serve: Serve) -> None:
    body = gzip.compress(json.dumps({"error": {"message": f"no {KEY}"}}).encode())
    provider, _ = serve(
        lambda request: Reply(
            status=401,
            headers=[("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            body=body,
        )
    )

    with pytest.raises(AuthError) as caught:
        await returns(provider.fetch("video_1"))

    assert f"no {REDACTED}" in caught.value.message
    assert_error_has_no_key(caught.value)


async def test_a_download_error_echoing_the_key_shows_none_of_it(
    serve: Serve, tmp_path: Path
) -> None:
    body = escaped_json({"error": {"message": f"Video is not ready yet {KEY}"}})
    provider, server = serve(lambda request: Reply(status=404, headers=echo_headers(), body=body))

    with pytest.raises(NotFoundError) as caught:
        await returns(provider.download("video_1", Variant.VIDEO, tmp_path / "video.mp4"))

    assert "not ready" in caught.value.message
    assert_error_has_no_key(caught.value)
    assert len(server.received("GET", "/v1/videos/video_1/content")) == 1
    assert not (tmp_path / "video.mp4.part").exists()


async def test_an_unsupported_encoding_named_with_the_key_shows_none_of_it(serve: Serve) -> None:
    provider, _ = serve(
        lambda request: Reply(headers=[("Content-Encoding", f"x-{KEY}")], body=b"{}")
    )

    with pytest.raises(ProtocolError) as caught:
        await returns(provider.fetch("video_1"))

    assert "not supported" in caught.value.message
    assert_error_has_no_key(caught.value)
