"""The webhook sink at unit level (``httpx.MockTransport``): headers, signing, the mapping of
answers to outcomes, and secrets kept out of names, reprs and errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import standardwebhooks
from sink_helpers import add_batch, run_to_done

from reelforge.core.errors import ConfigError
from reelforge.sinks import (
    SinkDisabledError,
    SinkEvent,
    SinkRejectedError,
    SinkUnavailableError,
    WebhookSink,
    verify_webhook,
)
from reelforge.sinks.webhook import redact_url
from reelforge.store import Store

SECRET = "whsec_" + base64.b64encode(b"unit-test-secret-0123456789abcdef").decode()
URL = "https://hooks.example.com/in/reelforge?token=tok-very-private-42"


def _item(store: Store, index: int = -1) -> SinkEvent:
    (job,) = add_batch(store, 1)
    run_to_done(store, job, "video_1")
    event = store.events_after(0, 100)[index]
    return SinkEvent(
        event=event, job=store.get_job(job), assets=store.assets(job), origin="0a1b2c3d"
    )


def _sink(handler: Callable[[httpx.Request], httpx.Response], **kwargs: object) -> WebhookSink:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return WebhookSink(URL, SECRET, client=client, **kwargs)  # type: ignore[arg-type]


async def test_posts_signed_json_a_receiver_can_verify(store: Store) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    item = _item(store)
    sink = _sink(handler)
    await sink.deliver(item)
    await sink.deliver(item)
    first, again = seen
    assert str(first.url) == URL
    assert first.headers["content-type"] == "application/json"
    assert first.headers["webhook-id"] == f"evt_0a1b2c3d_{item.event.id}"
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.content == first.content
    document = verify_webhook(first.content, dict(first.headers), SECRET)
    assert document["type"] == "job.state_changed"
    assert document["data"]["event_id"] == item.event.id
    assert document["data"]["job_id"] == item.job.id
    # The plain library (what a receiver in another language mirrors) agrees.
    plain = standardwebhooks.Webhook(SECRET).verify(first.content, dict(first.headers))
    assert plain == document


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (200, None),
        (202, None),
        (204, None),
        (410, SinkDisabledError),
        (408, SinkUnavailableError),
        (429, SinkUnavailableError),
        (500, SinkUnavailableError),
        (503, SinkUnavailableError),
        (307, SinkUnavailableError),
        (400, SinkRejectedError),
        (401, SinkRejectedError),
        (404, SinkRejectedError),
        (422, SinkRejectedError),
    ],
)
async def test_answers_map_to_outcomes(
    store: Store, status: int, error: type[Exception] | None
) -> None:
    sink = _sink(lambda request: httpx.Response(status, text=f"echo {request.url}"))
    item = _item(store)
    if error is None:
        await sink.deliver(item)
        return
    with pytest.raises(error) as caught:
        await sink.deliver(item)
    assert str(status) in str(caught.value)
    assert "tok-very-private-42" not in str(caught.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), ("nan", None)],
)
async def test_retry_after_is_read(store: Store, header: str, expected: float | None) -> None:
    sink = _sink(lambda request: httpx.Response(429, headers={"retry-after": header}))
    with pytest.raises(SinkUnavailableError) as caught:
        await sink.deliver(_item(store))
    assert caught.value.retry_after == expected


async def test_retry_after_as_an_http_date(store: Store) -> None:
    later = format_datetime(datetime.now(tz=UTC) + timedelta(seconds=120), usegmt=True)
    sink = _sink(lambda request: httpx.Response(503, headers={"retry-after": later}))
    with pytest.raises(SinkUnavailableError) as caught:
        await sink.deliver(_item(store))
    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 121


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused to " + URL), httpx.ReadTimeout("slow " + URL)],
)
async def test_network_failures_are_retried_without_leaking_the_url(
    store: Store, failure: httpx.HTTPError
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    sink = _sink(handler)
    with pytest.raises(SinkUnavailableError) as caught:
        await sink.deliver(_item(store))
    text = str(caught.value)
    assert "tok-very-private-42" not in text
    assert "https://hooks.example.com/in/…?…" in text
    assert caught.value.__cause__ is None


def test_name_repr_and_url_reveal_neither_token_nor_secret() -> None:
    sink = WebhookSink(URL, SECRET, client=httpx.AsyncClient())
    other = WebhookSink(URL.replace("42", "43"), SECRET, client=httpx.AsyncClient())
    assert sink.name.startswith("webhook:")
    assert len(sink.name) == len("webhook:") + 8
    assert sink.name != other.name
    for text in (sink.name, repr(sink), sink.url):
        assert "tok-very-private" not in text
        assert SECRET not in text
        assert SECRET.removeprefix("whsec_") not in text
    assert WebhookSink(URL, SECRET, name="webhook:crm").name == "webhook:crm"


def test_redact_url_keeps_host_port_and_the_first_path_segment_only() -> None:
    assert redact_url("https://user:pw@h.example:8443/a/b?x=1#f") == "https://h.example:8443/a/…?…"
    assert redact_url("http://[::1]:9000/hook") == "http://[::1]:9000/hook"
    assert redact_url("https://h.example") == "https://h.example"
    slack = "https://hooks.slack.example/services/T000/B000/XXXXSECRETXXXX"
    assert redact_url(slack) == "https://hooks.slack.example/services/…"


@pytest.mark.parametrize("bad", ["", "   ", "whsec_", "whsec_!!!", "hunter22", "whsec_abcd"])
def test_an_unusable_secret_is_a_config_error_that_does_not_echo_it(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WebhookSink(URL, bad, client=httpx.AsyncClient())
    assert "!!!" not in str(caught.value)


async def test_a_client_it_made_is_closed_an_injected_one_is_not() -> None:
    injected = httpx.AsyncClient()
    await WebhookSink(URL, SECRET, client=injected).aclose()
    assert not injected.is_closed
    own = WebhookSink(URL, SECRET)
    await own.aclose()
    await injected.aclose()


async def test_the_payload_is_compact_json_with_the_documented_fields(store: Store) -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(204)

    await _sink(handler).deliver(_item(store, index=0))
    document = json.loads(bodies[0])
    assert bodies[0] == json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    assert document["type"] == "job.created"
    assert document["timestamp"].endswith("Z")
    assert set(document["data"]) >= {
        "event_id",
        "kind",
        "job_id",
        "batch_id",
        "key",
        "state",
        "progress",
        "remote_id",
        "error",
        "cost",
        "labels",
        "assets",
        "provider",
        "model",
    }
    assert document["data"]["provider"] == "openai"
    assert document["data"]["state"] == "pending"
    assert document["data"]["key"] == "job-0"


def test_the_docs_describe_every_type_and_field(store: Store) -> None:
    from pathlib import Path

    from reelforge.sinks.payload import EVENT_TYPES, payload

    docs = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text("utf-8")
    for kind, name in EVENT_TYPES.items():
        assert f"| `{name}` | `{kind.value}` |" in docs
    assert "| `job.created` | `state` |" in docs
    document = payload(_item(store))
    for field in document["data"]:
        assert f'"{field}":' in docs, field
