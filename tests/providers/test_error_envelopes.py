"""Error bodies: a gateway's envelope around its upstream's error is unwrapped.

LiteLLM puts the upstream's whole error object, as text, inside its own ``error.message``
(after ``litellm.BadRequestError: OpenAIException - ``), and sets ``param`` to null and
``code`` to the HTTP status. The upstream's fields are what say what was wrong.
"""

from __future__ import annotations

import json

import pytest
from litellm_replay import recorded

from reelforge.providers._errors import Envelope, read_envelope
from reelforge.providers._redact import REDACTED, Redactor

KEY = "sk-envelope-0123456789abcdef"
UPSTREAM = {
    "error": {
        "message": "Invalid value: '10'. Supported values are: '4', '8', and '12'.",
        "type": "invalid_request_error",
        "param": "seconds",
        "code": "invalid_value",
    }
}


def gateway(message: str, **fields: object) -> bytes:
    """A LiteLLM-shaped envelope around ``message``."""
    error = {"message": message, "type": None, "param": None, "code": "400", **fields}
    return json.dumps({"error": error}).encode()


def test_the_recorded_litellm_envelope_gives_the_upstream_fields() -> None:
    body = recorded("error_invalid_seconds").body
    assert isinstance(body, bytes)

    envelope = read_envelope(body)

    assert envelope == Envelope(
        message="Invalid value: '10'. Supported values are: '4', '8', and '12'.",
        type="invalid_request_error",
        param="seconds",
        code="invalid_value",
        structured=True,
        wrapped=True,
    )


def test_an_upstream_error_written_as_a_python_repr_is_unwrapped() -> None:
    body = gateway(f"litellm.BadRequestError: OpenAIException - Error code: 400 - {UPSTREAM!r}")

    envelope = read_envelope(body)

    assert (envelope.message, envelope.param, envelope.code) == (
        UPSTREAM["error"]["message"],
        "seconds",
        "invalid_value",
    )
    assert envelope.wrapped


def test_a_gateway_in_front_of_a_gateway_is_unwrapped_to_the_innermost_error() -> None:
    inner = gateway("litellm.BadRequestError: OpenAIException - " + json.dumps(UPSTREAM))
    body = gateway("upstream said: " + inner.decode(), type="proxy_error")

    envelope = read_envelope(body)

    assert envelope.message == UPSTREAM["error"]["message"]
    assert envelope.code == "invalid_value"


def test_an_upstream_error_inside_detail_is_unwrapped() -> None:
    body = json.dumps({"detail": "upstream failed: " + json.dumps(UPSTREAM)}).encode()

    assert read_envelope(body).param == "seconds"


@pytest.mark.parametrize(
    "message",
    [
        "Use the {model} placeholder",
        "Invalid body: {'seconds': 10}",
        'Invalid body: {"error": "not an object"}',
        '{"error": {"code": "no message"}}',
        'unbalanced {"error": {"message": \'x\'',
    ],
)
def test_braces_that_hold_no_error_object_leave_the_message_as_it_is(message: str) -> None:
    envelope = read_envelope(gateway(message))

    assert envelope.message == message
    assert envelope.code == "400"
    assert not envelope.wrapped


@pytest.mark.parametrize(
    "message",
    [
        "{" * 30_000,
        "[" * 20_000 + "]" * 20_000,
        "{" + "[" * 5_000 + "]" * 5_000 + "}",
        "x {'a': " + "(" * 1_000 + ")" * 1_000 + "}",
        ("{'message': '" + "9" * 20_000 + "'} ") * 3,
    ],
    ids=["open-braces", "deep-lists", "deep-inside-braces", "deep-parens", "long"],
)
def test_hostile_text_inside_a_message_is_left_alone(message: str) -> None:
    envelope = read_envelope(gateway(message))

    assert envelope.message == message or envelope.wrapped


def test_the_key_inside_a_wrapped_error_is_redacted() -> None:
    escaped = "".join(f"\\u{ord(char):04x}" for char in KEY)
    upstream = '{"error": {"message": "Incorrect API key ' + escaped + '", "code": "' + KEY + '"}}'
    body = gateway("litellm.AuthenticationError: OpenAIException - " + upstream)

    envelope = read_envelope(body, Redactor(KEY))

    assert envelope.message == f"Incorrect API key {REDACTED}"
    assert envelope.code == REDACTED
    assert KEY not in repr(envelope)


def test_the_key_hidden_by_python_escapes_in_a_repr_is_redacted_once_decoded() -> None:
    hidden = "".join(f"\\x{ord(char):02x}" for char in KEY)  # '\x73\x6b...' in the repr
    upstream = "{'error': {'message': 'Incorrect API key " + hidden + "', 'param': 'key'}}"
    body = gateway("litellm.AuthenticationError: Error code: 401 - " + upstream)

    envelope = read_envelope(body, Redactor(KEY))

    assert envelope.message == f"Incorrect API key {REDACTED}"
    assert envelope.param == "key"


def test_a_number_code_upstream_is_text() -> None:
    body = gateway('OpenAIException - {"error": {"message": "slow down", "code": 429}}')

    assert read_envelope(body).code == "429"
