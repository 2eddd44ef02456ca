"""Error responses become typed reelforge errors; the API key never appears in any of them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from openai_fakes import API_KEY, OPENAI_URL, MakeProvider, error_body, sequence

from reelforge.core.errors import (
    AuthError,
    EndpointGoneError,
    ErrorCategory,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    ReelforgeError,
    TransientError,
)
from reelforge.core.models import JobSpec, Variant

SPEC = JobSpec(prompt="A red kite over dunes")


async def test_401_is_an_auth_error_with_the_envelope_fields(make_provider: MakeProvider) -> None:
    response = httpx.Response(
        401,
        json=error_body("Incorrect API key provided.", code="invalid_api_key"),
        headers={"x-request-id": "req_401"},
    )
    provider, _ = make_provider(lambda request: response)

    with pytest.raises(AuthError) as caught:
        await provider.fetch("video_1")

    error = caught.value
    assert error.category is ErrorCategory.AUTH
    assert error.status_code == 401
    assert error.code == "invalid_api_key"
    assert error.request_id == "req_401"
    assert "Incorrect API key provided." in str(error)
    assert "req_401" in str(error)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequestError),
        (403, AuthError),
        (404, NotFoundError),
        (409, InvalidRequestError),
        (422, InvalidRequestError),
    ],
)
async def test_status_codes_map_to_error_classes(
    make_provider: MakeProvider, status: int, kind: type[ReelforgeError]
) -> None:
    response = httpx.Response(status, json=error_body("nope", param="size"))
    provider, _ = make_provider(lambda request: response)

    with pytest.raises(kind) as caught:
        await provider.fetch("video_1")

    assert type(caught.value) is kind


async def test_validation_error_carries_the_server_message_and_param(
    make_provider: MakeProvider,
) -> None:
    message = "Invalid type for 'seconds': expected one of '4', '8', or '12'."
    response = httpx.Response(400, json=error_body(message, param="seconds"))
    provider, _ = make_provider(lambda request: response)

    with pytest.raises(InvalidRequestError, match="expected one of") as caught:
        await provider.submit(SPEC)

    assert caught.value.param == "seconds"


async def test_non_json_error_body_is_handled(make_provider: MakeProvider) -> None:
    provider, recorder = make_provider(
        lambda request: httpx.Response(502, text="<html><body>Bad Gateway</body></html>")
    )

    with pytest.raises(TransientError, match="Bad Gateway") as caught:
        await provider.fetch("video_1")

    assert caught.value.status_code == 502
    assert len(recorder.requests) == 4


async def test_model_not_found_at_openai_mentions_the_shutdown_and_base_url(
    make_provider: MakeProvider,
) -> None:
    body = error_body("The model `sora-2` does not exist.", code="model_not_found", param="model")
    provider, _ = make_provider(lambda request: httpx.Response(404, json=body), base_url=OPENAI_URL)

    with pytest.raises(EndpointGoneError) as caught:
        await provider.submit(SPEC)

    text = str(caught.value)
    assert "'sora-2'" in text
    assert "shut down on 2026-09-24" in text
    assert "--base-url" in text
    assert "OPENAI_BASE_URL" in text
    assert caught.value.category is ErrorCategory.NOT_FOUND


async def test_model_not_served_by_a_gateway_is_endpoint_gone_without_the_openai_note(
    make_provider: MakeProvider,
) -> None:
    body = error_body("Invalid model name passed in model=sora-2-pro")
    provider, _ = make_provider(lambda request: httpx.Response(400, json=body))

    with pytest.raises(EndpointGoneError) as caught:
        await provider.submit(JobSpec(prompt="A kite", model="sora-2-pro"))

    assert "gateway.example" in str(caught.value)
    assert "2026-09-24" not in str(caught.value)
    assert "--base-url" in str(caught.value)


async def test_404_on_videos_at_openai_is_endpoint_gone(make_provider: MakeProvider) -> None:
    body = error_body("Invalid URL (POST /v1/videos)")
    provider, recorder = make_provider(
        lambda request: httpx.Response(404, json=body), base_url=OPENAI_URL
    )

    with pytest.raises(EndpointGoneError, match=r"shut down on 2026-09-24.*--base-url"):
        await provider.submit(SPEC)

    assert len(recorder.requests) == 1


async def test_bare_404_on_list_at_a_gateway_is_endpoint_gone(make_provider: MakeProvider) -> None:
    provider, _ = make_provider(lambda request: httpx.Response(404, text="404 page not found"))

    with pytest.raises(EndpointGoneError, match="does not serve the OpenAI Videos API"):
        async for _ in provider.list_recent():
            pass


async def test_404_with_an_envelope_on_fetch_is_just_not_found(make_provider: MakeProvider) -> None:
    body = error_body("Video with id 'video_9' not found.")
    provider, _ = make_provider(lambda request: httpx.Response(404, json=body))

    with pytest.raises(NotFoundError) as caught:
        await provider.fetch("video_9")

    assert type(caught.value) is NotFoundError


async def test_unexpected_redirect_is_a_protocol_error(make_provider: MakeProvider) -> None:
    response = httpx.Response(302, headers={"location": "https://elsewhere.example/"})
    provider, _ = make_provider(lambda request: response)

    with pytest.raises(ProtocolError, match="302"):
        await provider.fetch("video_1")


async def test_requests_carry_auth_and_user_agent(make_provider: MakeProvider) -> None:
    provider, recorder = make_provider(lambda request: httpx.Response(404, json=error_body("x")))

    with pytest.raises(NotFoundError):
        await provider.fetch("video_1")

    request = recorder.requests[0]
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["user-agent"].startswith("reelforge/")
    assert str(request.url) == "https://gateway.example/v1/videos/video_1"


def _echo_key(status: int) -> httpx.Response:
    return httpx.Response(
        status,
        json=error_body(f"Incorrect API key provided: {API_KEY}.", code=API_KEY, param=API_KEY),
    )


@pytest.mark.parametrize(
    "responses",
    [
        [_echo_key(401)],
        [_echo_key(400)],
        [_echo_key(404)],
        [httpx.Response(500, text=f"upstream said Bearer {API_KEY}")] * 4,
        [httpx.Response(200, content=f"not json {API_KEY}".encode())],
        [httpx.Response(200, json={"id": API_KEY, "status": "queued"})],
        [httpx.ReadTimeout(f"timed out for {API_KEY}")] * 4,
    ],
    ids=["401", "400", "404", "500-text", "bad-json", "bad-id", "timeout"],
)
async def test_the_api_key_never_appears_in_an_error(
    make_provider: MakeProvider, responses: list[httpx.Response | Exception]
) -> None:
    provider, _ = make_provider(sequence(*responses))

    with pytest.raises(ReelforgeError) as caught:
        await provider.fetch("video_1")

    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value)
    assert API_KEY[:16] not in str(caught.value)
    for value in vars(caught.value).values():
        assert API_KEY not in str(value)


async def test_the_api_key_never_appears_in_download_or_create_errors(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    dest = tmp_path / "video.mp4"
    for status in (401, 404, 500):
        provider, _ = make_provider(lambda request, status=status: _echo_key(status))
        for call in (provider.submit(SPEC), provider.download("video_1", Variant.VIDEO, dest)):
            with pytest.raises(ReelforgeError) as caught:
                await call
            assert API_KEY not in str(caught.value)
            assert API_KEY not in repr(caught.value)


def test_the_provider_repr_hides_the_key(make_provider: MakeProvider) -> None:
    provider, _ = make_provider(lambda request: httpx.Response(200))

    assert API_KEY not in repr(provider)
    assert "gateway.example" in repr(provider)
