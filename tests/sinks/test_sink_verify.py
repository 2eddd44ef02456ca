"""``verify_webhook``: what a receiver accepts, and every way a request is refused."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks

from reelforge.core.errors import ConfigError, ReelforgeError
from reelforge.sinks import InvalidWebhookError, verify_webhook

SECRET = "whsec_" + base64.b64encode(b"verify-test-secret-0123456789abc").decode()
BODY = json.dumps({"type": "job.progress", "data": {"event_id": 7}}).encode()


def _headers(
    body: bytes = BODY, *, secret: str = SECRET, at: float | None = None, msg_id: str = "evt_7"
) -> dict[str, str]:
    stamp = int(time.time() if at is None else at)
    signature = standardwebhooks.Webhook(secret).sign(
        msg_id, datetime.fromtimestamp(stamp, tz=UTC), body.decode()
    )
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_a_genuine_webhook_returns_its_body() -> None:
    assert verify_webhook(BODY, _headers(), SECRET) == json.loads(BODY)


def test_header_names_in_any_case_and_several_signatures() -> None:
    headers = {key.upper(): value for key, value in _headers().items()}
    headers["WEBHOOK-SIGNATURE"] = "v1,AAAA " + headers["WEBHOOK-SIGNATURE"]
    assert verify_webhook(BODY, headers, SECRET)["data"]["event_id"] == 7


def _refused(body: bytes, headers: dict[str, str], secret: str = SECRET) -> InvalidWebhookError:
    with pytest.raises(InvalidWebhookError) as caught:
        verify_webhook(body, headers, secret)
    assert isinstance(caught.value, ReelforgeError)
    return caught.value


def test_a_changed_body_is_refused() -> None:
    tampered = BODY.replace(b"7", b"8")
    assert _refused(tampered, _headers()).reason == "signature"


def test_a_forged_signature_is_refused() -> None:
    headers = _headers()
    headers["webhook-signature"] = "v1," + base64.b64encode(b"f" * 32).decode()
    assert _refused(BODY, headers).reason == "signature"


def test_another_secret_is_refused() -> None:
    other = "whsec_" + base64.b64encode(b"some-other-secret-0123456789abcd").decode()
    assert _refused(BODY, _headers(secret=other)).reason == "signature"


def test_a_changed_id_is_refused() -> None:
    headers = _headers()
    headers["webhook-id"] = "evt_8"
    assert _refused(BODY, headers).reason == "signature"


@pytest.mark.parametrize("offset", [-301, -3600, 301, 3600])
def test_a_timestamp_more_than_five_minutes_off_is_refused(offset: int) -> None:
    error = _refused(BODY, _headers(at=time.time() + offset))
    assert error.reason == "timestamp"


def test_a_narrower_tolerance_is_honoured() -> None:
    headers = _headers(at=time.time() - 120)
    assert verify_webhook(BODY, headers, SECRET)["type"] == "job.progress"
    with pytest.raises(InvalidWebhookError, match="old"):
        verify_webhook(BODY, headers, SECRET, tolerance=60)
    with pytest.raises(ValueError, match="tolerance"):
        verify_webhook(BODY, headers, SECRET, tolerance=3600)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(missing: str) -> None:
    headers = _headers()
    del headers[missing]
    error = _refused(BODY, headers)
    assert error.reason == "headers"
    assert missing in str(error)


@pytest.mark.parametrize("signature", ["garbage", "v1,***", "v1"])
def test_a_malformed_signature_is_refused_not_crashed(signature: str) -> None:
    headers = _headers()
    headers["webhook-signature"] = signature
    assert _refused(BODY, headers).reason in {"headers", "signature"}


def test_a_non_numeric_timestamp_is_refused() -> None:
    headers = _headers()
    headers["webhook-timestamp"] = "yesterday"
    assert _refused(BODY, headers).reason == "headers"


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    headers = _headers(body.decode("utf-8", errors="replace").encode())
    error = _refused(body, headers)
    assert error.reason in {"body", "signature"}
    if body != b"\xff\xfe":
        assert _refused(body, _headers(body)).reason == "body"


def test_an_unusable_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        verify_webhook(BODY, _headers(), "")
