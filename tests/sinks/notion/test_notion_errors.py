"""Notion's failures become the sink errors the runner understands; the token never shows."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from notion_client import AsyncClient
from notion_helpers import TOKEN, add_jobs, event, submit
from pydantic import SecretStr

from reelforge.fakenotion import CreatedDatabase, EmbeddedFakeNotion
from reelforge.sinks.base import SinkUnavailableError
from reelforge.sinks.notion import (
    NotionNotFoundError,
    NotionSettings,
    NotionSink,
    NotionUnavailableError,
    init_database,
    make_client,
)
from reelforge.store import Store


def _sink(client: AsyncClient, settings: NotionSettings, store: Store) -> NotionSink:
    return NotionSink(client, settings, store=store, rate=1000.0, burst=100)


@pytest.mark.parametrize(
    ("status", "code"), [(503, "service_unavailable"), (529, "service_overload")]
)
async def test_an_outage_is_unavailable_and_not_retried_by_the_sdk(
    fake: EmbeddedFakeNotion,
    ready: CreatedDatabase,
    sink: NotionSink,
    store: Store,
    out_dir: Path,
    status: int,
    code: str,
) -> None:
    [job] = add_jobs(store, 1, out_dir=out_dir)
    fake.state.set_outage(status)
    fake.state.log.clear()
    with pytest.raises(SinkUnavailableError) as caught:
        await sink.deliver(event(store, job))
    assert isinstance(caught.value, NotionUnavailableError)
    assert caught.value.status == status
    assert caught.value.code == code
    assert f"HTTP {status}" in str(caught.value)
    assert len(fake.state.log.records) == 1  # the SDK's own retries are off

    fake.state.set_outage(None)
    await sink.deliver(event(store, job))
    assert fake.state.log.page_creates() == 1


async def test_rate_limiting_is_unavailable_with_retry_after(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    [job] = add_jobs(store, 1, out_dir=out_dir)
    fake.state.configure_rate_limit(enabled=True, requests_per_second=0.1, burst=1)
    with pytest.raises(SinkUnavailableError) as caught:
        await sink.deliver(event(store, job))
    assert caught.value.retry_after == 10.0
    assert "rate limiting" in str(caught.value)
    assert [r.status for r in fake.state.log.records][-2:] == [200, 429]


async def test_the_token_never_shows_in_errors_or_logs(
    fake: EmbeddedFakeNotion,
    ready: CreatedDatabase,
    settings: NotionSettings,
    store: Store,
    out_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = settings.model_copy(update={"token": SecretStr("secret_wrong_789xyz")})
    [job] = add_jobs(store, 1, out_dir=out_dir)
    async with make_client(wrong) as client:
        with pytest.raises(SinkUnavailableError) as caught:
            await _sink(client, wrong, store).deliver(event(store, job))
    message = str(caught.value)
    assert "HTTP 401" in message
    assert "NOTION_TOKEN" in message
    for text in (message, repr(caught.value), str(caught.value.__cause__), caplog.text):
        assert "secret_wrong_789xyz" not in text
        assert TOKEN not in text
    assert "secret_wrong_789xyz" not in repr(wrong)


async def test_a_token_echoed_by_the_server_is_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"]
        body = {"object": "error", "status": 500, "code": "internal_server_error",
                "message": f"bad header {auth}"}  # fmt: skip
        return httpx.Response(500, json=body)

    settings = NotionSettings(token=TOKEN, database_id="db1", base_url="http://notion.test")
    client = make_client(settings, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    try:
        with pytest.raises(SinkUnavailableError) as caught:
            await init_database(client, settings)
    finally:
        await client.aclose()
    assert TOKEN not in str(caught.value)
    assert "[redacted]" in str(caught.value)


async def test_a_database_not_shared_is_unavailable_with_a_hint(
    fake: EmbeddedFakeNotion, settings: NotionSettings, store: Store, out_dir: Path
) -> None:
    missing = settings.model_copy(update={"database_id": "0" * 32})
    [job] = add_jobs(store, 1, out_dir=out_dir)
    async with make_client(missing) as client:
        with pytest.raises(NotionNotFoundError) as caught:
            await _sink(client, missing, store).deliver(event(store, job))
    assert isinstance(caught.value, SinkUnavailableError)
    assert "shared with the integration" in str(caught.value)
    assert caught.value.retry_after == 60.0


async def test_no_connection_is_unavailable(store: Store, out_dir: Path) -> None:
    closed = NotionSettings(token=TOKEN, database_id="db1", base_url="http://127.0.0.1:9")
    [job] = add_jobs(store, 1, out_dir=out_dir)
    async with make_client(closed) as client:
        with pytest.raises(SinkUnavailableError, match="could not reach Notion"):
            await _sink(client, closed, store).deliver(event(store, job))


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(502, text="<html>bad gateway</html>"), None),
        (httpx.Response(429, headers={"Retry-After": "7"}, json={}), 7.0),
        (
            httpx.Response(
                529,
                headers={"Retry-After": "5"},
                json={
                    "object": "error",
                    "status": 529,
                    "code": "service_overload",
                    "message": "overloaded",
                },
            ),
            5.0,
        ),
        (
            httpx.Response(
                503,
                headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
                json={
                    "object": "error",
                    "status": 503,
                    "code": "service_unavailable",
                    "message": "down",
                },
            ),
            0.0,
        ),
    ],
)
async def test_unusual_answers_are_unavailable(
    response: httpx.Response, expected: float | None
) -> None:
    settings = NotionSettings(token=TOKEN, database_id="db1", base_url="http://notion.test")
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: response))
    client = make_client(settings, http=http)
    try:
        with pytest.raises(SinkUnavailableError) as caught:
            await init_database(client, settings)
    finally:
        await client.aclose()
    assert caught.value.retry_after == expected


async def test_a_timeout_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    settings = NotionSettings(token=TOKEN, database_id="db1", base_url="http://notion.test")
    client = make_client(settings, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    try:
        with pytest.raises(SinkUnavailableError, match="did not answer in time"):
            await init_database(client, settings)
    finally:
        await client.aclose()


async def test_a_validation_error_from_a_stale_schema_is_retried_with_the_new_one(
    fake: EmbeddedFakeNotion, ready: CreatedDatabase, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    """The event is not skipped (it may be the job's last): the schema is read again and the
    write retried once, leaving out the property that no longer fits."""
    [job] = add_jobs(store, 1, out_dir=out_dir)
    await sink.deliver(event(store, job))
    # Someone retypes a property in Notion while the sink holds the old schema.
    fake.state.update_data_source(
        ready.data_source_id, {"properties": {"Seconds": {"checkbox": {}}}}
    )
    submit(store, job, "video_v")
    await sink.deliver(event(store, job))

    [page] = fake.state.pages(ready.data_source_id)
    assert page["properties"]["Video ID"]["rich_text"][0]["plain_text"] == "video_v"
    refused = [r for r in fake.state.log.records if r.status == 400]
    assert len(refused) == 1  # the stale write, then the retry with the fresh schema went in


async def test_without_a_job_id_property_the_sink_asks_for_init(
    fake: EmbeddedFakeNotion, sink: NotionSink, store: Store, out_dir: Path
) -> None:
    [job] = add_jobs(store, 1, out_dir=out_dir)
    with pytest.raises(SinkUnavailableError, match="reelforge notion init"):
        await sink.deliver(event(store, job))
    assert fake.state.log.page_creates() == 0


async def test_a_client_that_retries_by_itself_is_flagged(
    settings: NotionSettings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    retrying = AsyncClient(auth=TOKEN, base_url=settings.base_url)
    try:
        NotionSink(retrying, settings, store=store)
    finally:
        await retrying.aclose()
    assert "retries by itself" in caplog.text
