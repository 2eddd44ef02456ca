"""Hostile input never escapes as anything but ProtocolError (or a well-formed status)."""

from __future__ import annotations

import contextlib

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from reelforge.core.errors import ProtocolError, ReelforgeError
from reelforge.core.models import RemoteStatus
from reelforge.providers._errors import Endpoint, Site, error_for_response, read_envelope
from reelforge.providers._wire import is_valid_id, parse_list_page, parse_video

SECRET = "sk-fuzz-0123456789abcdefghij"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)
video_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=140), st.just("video_1"), json_values),
        "object": st.sampled_from(["video", "list", None]),
        "status": st.one_of(
            st.sampled_from(["queued", "failed", "succeeded", "bogus"]), json_values
        ),
        "progress": st.one_of(st.integers(-5, 105), json_values),
        "created_at": st.one_of(st.integers(-10, 2**41), json_values),
        "seconds": st.one_of(st.sampled_from(["4", "8", "x"]), json_values),
        "error": json_values,
        "remixed_from_video_id": st.one_of(st.text(max_size=20), json_values),
    },
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(video_like, json_values))
def test_parse_video_returns_a_status_or_raises_protocol_error(data: object) -> None:
    try:
        status = parse_video(data, httpx.Headers())
    except ProtocolError:
        return
    assert isinstance(status, RemoteStatus)
    assert is_valid_id(status.remote_id)
    assert 0 <= status.progress <= 100


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["object", "data", "has_more", "last_id"]), json_values))
def test_parse_list_page_never_raises_anything_else(data: object) -> None:
    with contextlib.suppress(ProtocolError):
        parse_list_page(data, httpx.Headers())


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from([400, 401, 403, 404, 409, 410, 418, 422, 429, 500, 503, 302]),
    body=st.one_of(st.binary(max_size=200), json_values.map(lambda v: repr(v).encode())),
    endpoint=st.sampled_from(list(Endpoint)),
)
def test_any_error_response_maps_to_a_reelforge_error_without_the_secret(
    status: int, body: bytes, endpoint: Endpoint
) -> None:
    body = body + f" {SECRET}".encode()
    site = Site(base_url="https://api.openai.com/v1", secret=SECRET)

    read_envelope(body)
    error = error_for_response(
        status, httpx.Headers(), body, site=site, endpoint=endpoint, label="fetch", retry_after=None
    )

    assert isinstance(error, ReelforgeError)
    assert SECRET not in str(error)
    assert SECRET not in repr(error)
