"""The serve token (401 without it; bearer or the ``?token=`` session cookie) and the CSRF
rules (403 for a cross-origin or token-less unsafe request), on the served application and
on a small application behind the same middleware."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message

from reelforge._serve import ThreadedServer
from reelforge.serve import ServeState, build_app
from reelforge.serve.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    AccessMiddleware,
    csrf_token,
    session_value,
)
from reelforge.store import Store

TOKEN = "serve-token-0123456789"
BASE = "http://127.0.0.1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.for_path(tmp_path / "db.sqlite")
    store.migrate()
    yield store
    store.close()


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE)


async def test_with_a_token_every_page_and_api_call_needs_it(store: Store) -> None:
    app = build_app(ServeState(store=store, db_url=store.url, token=SecretStr(TOKEN)))
    async with _client(app) as client:
        for path in ("/api/batches", "/metrics", "/", "/api/jobs/x"):
            refused = await client.get(path)
            assert refused.status_code == 401, path
            assert "token" in refused.json()["error"]
            assert TOKEN not in refused.text
        wrong = await client.get("/api/batches", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = await client.get("/api/batches", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200
        assert good.json() == {"batches": []}
        scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200
        assert "reelforge_outbox_head" in scraped.text


async def test_visiting_with_the_token_once_sets_a_cookie_and_drops_it_from_the_url(
    store: Store,
) -> None:
    app = build_app(ServeState(store=store, db_url=store.url, token=SecretStr(TOKEN)))
    async with _client(app) as client:
        visit = await client.get(f"/api/batches?token={TOKEN}&x=1")
        assert visit.status_code == 303
        assert visit.headers["location"] == "/api/batches?x=1"
        cookie = visit.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}={session_value(SecretStr(TOKEN))}")
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert TOKEN not in cookie
        assert (await client.get("/api/batches")).status_code == 200  # the cookie is sent
        client.cookies.set(SESSION_COOKIE, "forged")
        assert (await client.get("/api/batches")).status_code == 401
        assert (await client.get("/api/batches?token=wrong")).status_code == 401


async def test_without_a_token_loopback_pages_are_open(store: Store) -> None:
    app = build_app(ServeState(store=store, db_url=store.url))
    async with _client(app) as client:
        assert (await client.get("/api/batches")).status_code == 200


async def test_without_a_token_only_loopback_host_names_are_answered(store: Store) -> None:
    """A page whose domain resolves to 127.0.0.1 (DNS rebinding) reads nothing."""
    app = build_app(ServeState(store=store, db_url=store.url))
    async with _client(app) as client:
        for host in ("evil.example", "evil.example:8787", "10.0.0.2"):
            refused = await client.get("/api/batches", headers={"Host": host})
            assert refused.status_code == 403, host
            assert "loopback" in refused.json()["error"]
        for host in ("localhost:8787", "[::1]:8787", "127.0.0.1"):
            assert (await client.get("/api/batches", headers={"Host": host})).status_code == 200
    async with _client(_guarded()) as client:
        hook = await client.post("/hooks/ping", content=b"{}", headers={"Host": "rf.example"})
        assert hook.status_code == 200  # the webhooks answer under the public name
    tokened = build_app(ServeState(store=store, db_url=store.url, token=SecretStr(TOKEN)))
    async with _client(tokened) as client:
        named = await client.get(
            "/api/batches", headers={"Host": "rf.example", "Authorization": f"Bearer {TOKEN}"}
        )
        assert named.status_code == 200


async def test_the_token_rule_holds_on_a_real_loopback_server(store: Store) -> None:
    app = build_app(ServeState(store=store, db_url=store.url, token=SecretStr(TOKEN)))
    async with ThreadedServer(app) as server, httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/api/batches")).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/api/batches", headers=auth)).status_code == 200


# -- CSRF ---------------------------------------------------------------------------------------


async def _echo(request: Request) -> JSONResponse:
    form = await request.form()
    return JSONResponse({"note": form.get("note")})


async def _hook(request: Request) -> JSONResponse:
    return JSONResponse({"got": len(await request.body())})


def _guarded(token: SecretStr | None = None) -> Starlette:
    return Starlette(
        routes=[
            Route("/act", _echo, methods=["POST"]),
            Route("/hooks/ping", _hook, methods=["POST"]),
        ],
        middleware=[Middleware(AccessMiddleware, token=token, public_url="https://rf.example")],
    )


def test_the_csrf_token_is_stable_for_the_process() -> None:
    assert csrf_token() == csrf_token()
    assert len(csrf_token()) == 64


async def test_a_cross_origin_post_is_refused_even_with_the_csrf_token() -> None:
    async with _client(_guarded()) as client:
        answer = await client.post(
            "/act",
            data={"note": "hi", "csrf_token": csrf_token()},
            headers={"Origin": "https://evil.example"},
        )
        assert answer.status_code == 403
        assert "cross-origin" in answer.json()["error"]
        site = await client.post(
            "/act",
            headers={CSRF_HEADER: csrf_token(), "Sec-Fetch-Site": "cross-site"},
        )
        assert site.status_code == 403
        assert "cross-site" in site.json()["error"]


async def test_a_post_without_the_csrf_token_is_refused() -> None:
    async with _client(_guarded()) as client:
        for headers in ({}, {CSRF_HEADER: "0" * 64}):
            answer = await client.post(
                "/act", data={"note": "hi"}, headers={"Origin": BASE, **headers}
            )
            assert answer.status_code == 403
            assert "CSRF" in answer.json()["error"]


async def test_a_same_origin_post_with_the_token_in_a_form_field_or_header_passes() -> None:
    async with _client(_guarded()) as client:
        form = await client.post(
            "/act", data={"note": "hi", "csrf_token": csrf_token()}, headers={"Origin": BASE}
        )
        assert form.status_code == 200
        assert form.json() == {"note": "hi"}  # the body read for the check reaches the route
        header = await client.post(
            "/act",
            data={"note": "yo"},
            headers={CSRF_HEADER: csrf_token(), "Sec-Fetch-Site": "same-origin"},
        )
        assert header.json() == {"note": "yo"}
        public = await client.post(
            "/act",
            data={"note": "p"},
            headers={CSRF_HEADER: csrf_token(), "Origin": "https://rf.example"},
        )
        assert public.status_code == 200


async def test_hooks_need_neither_the_serve_token_nor_the_csrf_token() -> None:
    async with _client(_guarded(SecretStr(TOKEN))) as client:
        hook = await client.post(
            "/hooks/ping", content=b"{}", headers={"Origin": "https://evil.example"}
        )
        assert hook.status_code == 200
        assert (await client.post("/act", headers={CSRF_HEADER: csrf_token()})).status_code == 401


async def test_a_path_that_only_starts_like_a_hooks_is_not_exempt() -> None:
    """Sent raw (clients normalize ``..`` away; uvicorn passes it on as it came)."""
    statuses: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    app = _guarded(SecretStr(TOKEN))
    for path in ("/hooks/../act", "/hooks/./../act", "/hooks/ping"):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)
    assert statuses == [401, 401, 200]


async def test_the_session_endpoint_hands_out_the_csrf_token(store: Store) -> None:
    app = build_app(ServeState(store=store, db_url=store.url))
    async with _client(app) as client:
        session = (await client.get("/api/session")).json()
        assert session == {"csrf_token": csrf_token(), "header": CSRF_HEADER, "field": "csrf_token"}
        refused = await client.post("/api/nothing", headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403
        passed = await client.post("/api/nothing", headers={CSRF_HEADER: session["csrf_token"]})
        assert passed.status_code == 404  # past the guard: no such API path
        assert "no such API path" in passed.json()["error"]
