"""What surrounds every request: authentication, the version header, the rate limit, outages,
unknown routes, bad JSON, and the request log."""

from __future__ import annotations

import json

import httpx
import pytest
from fakenotion_kit import TOKEN, MakeClient, headers, raises, title
from hypothesis import given
from hypothesis import strategies as st
from notion_client import AsyncClient
from notion_client.errors import APIResponseError, UnknownHTTPResponseError

from reelforge.fakenotion import (
    NOTION_VERSION,
    CreatedDatabase,
    EmbeddedFakeNotion,
    FakeNotionConfig,
    token_hash,
)


def assert_error_body(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    body = response.json()
    assert body["object"] == "error"
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["request_id"] == response.headers["x-notion-request-id"]
    return dict(body)


# -- authentication and version ---------------------------------------------------------------


@pytest.mark.parametrize("auth", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "secret_test_token"])
async def test_missing_or_malformed_token_is_401(
    http: httpx.AsyncClient, jobs: CreatedDatabase, auth: str | None
) -> None:
    sent = {"Notion-Version": NOTION_VERSION}
    if auth is not None:
        sent["Authorization"] = auth
    response = await http.get(f"/v1/databases/{jobs.database_id}", headers=sent)
    body = assert_error_body(response, 401, "unauthorized")
    assert body["message"] == "API token is invalid."


async def test_sdk_sees_unauthorized(make_client: MakeClient) -> None:
    with EmbeddedFakeNotion(FakeNotionConfig(tokens=("right",))) as other:
        ids = other.state.create_database("Jobs", {"Name": {"title": {}}})
        wrong = make_client(auth="wrong", base_url=other.base_url)
        error = await raises(wrong.databases.retrieve(ids.database_id), 401)
        assert error.code == "unauthorized"
        right = make_client(auth="right", base_url=other.base_url)
        assert (await right.databases.retrieve(ids.database_id))["id"] == ids.database_id


async def test_missing_version_header(http: httpx.AsyncClient, jobs: CreatedDatabase) -> None:
    response = await http.get(
        f"/v1/databases/{jobs.database_id}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    body = assert_error_body(response, 400, "missing_version")
    assert "Notion-Version header should be defined" in str(body["message"])


async def test_unsupported_version(make_client: MakeClient, jobs: CreatedDatabase) -> None:
    old = make_client(notion_version="2022-06-28")
    error = await raises(old.databases.retrieve(jobs.database_id), 400)
    assert error.code == "validation_error"
    assert "2022-06-28" in str(error)


async def test_unknown_route_and_bad_json(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/users/me", headers=headers())
    assert_error_body(response, 400, "invalid_request_url")
    response = await http.get("/v1/pages", headers=headers())
    assert_error_body(response, 400, "invalid_request_url")
    response = await http.post(
        "/v1/pages", headers=headers() | {"Content-Type": "application/json"}, content=b"{nope"
    )
    assert_error_body(response, 400, "invalid_json")


# -- rate limit -------------------------------------------------------------------------------


async def test_burst_then_429_with_retry_after() -> None:
    config = FakeNotionConfig(requests_per_second=0.5, burst=3)
    with EmbeddedFakeNotion(config) as fake:
        ids = fake.state.create_database("Jobs", {"Name": {"title": {}}})
        async with httpx.AsyncClient(base_url=fake.base_url, headers=headers()) as http:
            statuses = []
            for _ in range(5):
                response = await http.get(f"/v1/data_sources/{ids.data_source_id}")
                statuses.append(response.status_code)
            assert statuses == [200, 200, 200, 429, 429]
            body = assert_error_body(response, 429, "rate_limited")
            assert body["message"] == (
                "You have been rate limited. Please try again in a few minutes."
            )
            retry_after = response.headers["Retry-After"]
            assert retry_after.isdigit()
            assert 1 <= int(retry_after) <= 2
            other = await http.get(
                f"/v1/data_sources/{ids.data_source_id}", headers=headers("another token")
            )
            assert other.status_code == 200
        limited = [r for r in fake.state.log.records if r.status == 429]
        assert [r.code for r in limited] == ["rate_limited", "rate_limited"]


async def test_bucket_refills_at_the_configured_rate() -> None:
    now = [100.0]
    from reelforge.fakenotion import FakeNotionState

    state = FakeNotionState(FakeNotionConfig(requests_per_second=3, burst=10), clock=lambda: now[0])
    key = token_hash(TOKEN)
    assert [state.check_rate(key) for _ in range(10)] == [None] * 10
    assert state.check_rate(key) == 1
    now[0] += 1.0
    assert [state.check_rate(key) for _ in range(3)] == [None] * 3
    assert state.check_rate(key) == 1
    now[0] += 60.0
    assert [state.check_rate(key) for _ in range(10)] == [None] * 10
    state.configure_rate_limit(enabled=False)
    assert all(state.check_rate(key) is None for _ in range(50))


@given(
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=200),
    rate=st.sampled_from([1.0, 3.0, 10.0]),
    burst=st.integers(min_value=1, max_value=20),
)
def test_accepted_requests_never_exceed_burst_plus_rate(
    gaps: list[float], rate: float, burst: int
) -> None:
    from reelforge.fakenotion import FakeNotionState

    now = [0.0]
    state = FakeNotionState(
        FakeNotionConfig(requests_per_second=rate, burst=burst), clock=lambda: now[0]
    )
    accepted: list[float] = []
    for gap in gaps:
        now[0] += gap
        wait = state.check_rate("key")
        if wait is None:
            accepted.append(now[0])
        else:
            assert wait >= 1
    for i, start in enumerate(accepted):
        for j in range(i, len(accepted)):
            assert j - i + 1 <= burst + rate * (accepted[j] - start) + 1e-9


async def test_sdk_retries_429_after_retry_after(make_client: MakeClient) -> None:
    with EmbeddedFakeNotion(FakeNotionConfig(requests_per_second=5, burst=1)) as fake:
        ids = fake.state.create_database("Jobs", {"Name": {"title": {}}})
        client = make_client(base_url=fake.base_url)
        await client.data_sources.retrieve(ids.data_source_id)
        page = await client.pages.create(
            parent={"data_source_id": ids.data_source_id}, properties={"Name": title("once")}
        )
        assert page["object"] == "page"
        statuses = [(r.path, r.status) for r in fake.state.log.records]
        assert statuses[0][1] == 200
        assert ("/v1/pages", 429) in statuses
        assert statuses[-1] == ("/v1/pages", 200)
        assert fake.state.log.page_creates() == 1


async def test_rate_limit_is_switchable_over_http(fake: EmbeddedFakeNotion) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        answer = await http.post(
            "/_fake/rate_limit", json={"enabled": True, "requests_per_second": 1, "burst": 2}
        )
        assert answer.json() == {"enabled": True, "requests_per_second": 1.0, "burst": 2}
        statuses = [
            (await http.get("/v1/users/me", headers=headers())).status_code for _ in range(3)
        ]
        assert statuses == [400, 400, 429]
        bad = await http.post("/_fake/rate_limit", json={"burst": 0})
        assert bad.status_code == 400
        await http.post("/_fake/rate_limit", json={"enabled": False})
        assert (await http.get("/_fake/rate_limit")).json()["enabled"] is False


# -- outage -----------------------------------------------------------------------------------


async def test_outage_in_process(
    fake: EmbeddedFakeNotion, make_client: MakeClient, jobs: CreatedDatabase
) -> None:
    client = make_client(retry=False)
    fake.state.set_outage(503)
    error = await raises(client.databases.retrieve(jobs.database_id), 503)
    assert isinstance(error, APIResponseError)
    assert error.code == "service_unavailable"
    fake.state.set_outage(529)
    error = await raises(
        client.pages.create(
            parent={"data_source_id": jobs.data_source_id}, properties={"Name": title("x")}
        ),
        529,
    )
    assert isinstance(error, UnknownHTTPResponseError)
    assert json.loads(error.body)["code"] == "service_overload"
    fake.state.set_outage(None)
    assert (await client.databases.retrieve(jobs.database_id))["object"] == "database"
    assert fake.state.pages(jobs.data_source_id) == []
    with pytest.raises(ValueError, match="503, 529 or None"):
        fake.state.set_outage(500)


async def test_outage_over_http_answers_every_request(
    fake: EmbeddedFakeNotion, http: httpx.AsyncClient, jobs: CreatedDatabase
) -> None:
    assert (await http.post("/_fake/outage", json={"status": 529})).json() == {"status": 529}
    for response in (
        await http.get(f"/v1/databases/{jobs.database_id}", headers=headers()),
        await http.get("/v1/anything"),
        await http.post("/v1/pages", headers=headers(), json={}),
    ):
        body = assert_error_body(response, 529, "service_overload")
        assert body["message"] == "Notion is overloaded, please try again later."
    assert fake.state.outage == 529
    await http.post("/_fake/outage", json={"status": 503})
    response = await http.get(f"/v1/databases/{jobs.database_id}", headers=headers())
    assert_error_body(response, 503, "service_unavailable")
    assert (await http.get("/_fake/log")).status_code == 200
    assert (await http.post("/_fake/outage", json={"status": None})).json() == {"status": None}
    response = await http.get(f"/v1/databases/{jobs.database_id}", headers=headers())
    assert response.status_code == 200
    bad = await http.post("/_fake/outage", json={"status": 500})
    assert bad.status_code == 400


# -- log --------------------------------------------------------------------------------------


async def test_log_records_requests_without_the_token(
    fake: EmbeddedFakeNotion, notion: AsyncClient, jobs: CreatedDatabase
) -> None:
    parent = {"data_source_id": jobs.data_source_id}
    await notion.pages.create(parent=parent, properties={"Name": title("a")})
    await raises(notion.pages.create(parent=parent, properties={"Nope": {"number": 1}}), 400)
    await notion.pages.create(parent=parent, properties={"Name": title("b")})
    records = fake.state.log.records
    assert [(r.method, r.path, r.status, r.code) for r in records] == [
        ("POST", "/v1/pages", 200, None),
        ("POST", "/v1/pages", 400, "validation_error"),
        ("POST", "/v1/pages", 200, None),
    ]
    assert {r.token_hash for r in records} == {token_hash(TOKEN)}
    assert records[0].monotonic <= records[1].monotonic <= records[2].monotonic
    assert records[0].wall.endswith("+00:00")
    assert fake.state.log.page_creates() == 2
    assert fake.state.log.page_creates(token=TOKEN) == 2
    assert fake.state.log.page_creates(token="someone else") == 0
    assert TOKEN not in json.dumps(fake.state.log.to_json())
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        served = (await http.get("/_fake/log")).json()
    assert served["page_creates"] == 2
    assert [r["status"] for r in served["requests"]] == [200, 400, 200]
    assert TOKEN not in json.dumps(served)


def test_max_in_window_counts_the_busiest_window() -> None:
    from reelforge.fakenotion import RequestLog, RequestRecord

    log = RequestLog()
    for at in [0.0, 1.0, 2.0, 9.9, 10.0, 10.5, 25.0]:
        log.append(
            RequestRecord(
                monotonic=at,
                wall="",
                method="GET",
                path="/v1/pages/x",
                status=200,
                code=None,
                request_id="r",
                token_hash="t",
            )
        )
    assert log.max_in_window(10.0) == 5
    assert log.max_in_window(1.0) == 3
    assert log.max_in_window(10.0, token="other") == 0


async def test_rate_limited_client_stays_under_three_per_second_on_average() -> None:
    config = FakeNotionConfig(requests_per_second=3, burst=10)
    with EmbeddedFakeNotion(config) as fake:
        async with httpx.AsyncClient(base_url=fake.base_url, headers=headers()) as http:
            accepted = 0
            for _ in range(40):
                response = await http.get("/v1/users/me")
                accepted += response.status_code != 429
        served = [r for r in fake.state.log.records if r.status != 429]
        assert len(served) == accepted
        seconds = served[-1].monotonic - served[0].monotonic
        assert accepted <= 10 + 3 * seconds + 1


async def test_reset_forgets_everything(fake: EmbeddedFakeNotion, jobs: CreatedDatabase) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        await http.get(f"/v1/databases/{jobs.database_id}", headers=headers())
        fake.state.set_outage(503)
        assert (await http.post("/_fake/reset")).json() == {"reset": True}
        assert fake.state.outage is None
        assert fake.state.log.records == []
        response = await http.get(f"/v1/databases/{jobs.database_id}", headers=headers())
        assert response.status_code == 404
