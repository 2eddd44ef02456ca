"""Serving: the embedded server's lifecycle, and a separate process driven over HTTP only."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fakenotion_kit import TOKEN, headers, title
from notion_client import AsyncClient

from reelforge.fakenotion import NOTION_VERSION, EmbeddedFakeNotion, FakeNotionConfig

_RUN_CLI = "import typer; from reelforge.fakenotion.cli import fake_notion; typer.run(fake_notion)"


async def test_embedded_async_context_manager() -> None:
    async with EmbeddedFakeNotion(FakeNotionConfig(rate_limit=False)) as fake:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.base_url)
        ids = fake.state.create_database("Jobs", {"Name": {"title": {}}})
        client = AsyncClient(auth=TOKEN, base_url=fake.base_url, notion_version=NOTION_VERSION)
        try:
            db = await client.databases.retrieve(ids.database_id)
        finally:
            await client.aclose()
        assert db["data_sources"][0]["id"] == ids.data_source_id
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{fake.base_url}/_fake/log")


def test_state_can_be_shared_and_prepared() -> None:
    from reelforge.fakenotion import FakeNotionState

    state = FakeNotionState(FakeNotionConfig(rate_limit=False))
    ids = state.create_database("Prepared", {"Name": {"title": {}}})
    with EmbeddedFakeNotion(state=state) as fake:
        response = httpx.get(f"{fake.base_url}/v1/databases/{ids.database_id}", headers=headers())
        assert response.status_code == 200
        assert fake.state is state


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``fake-notion`` in its own process with a database from a file: (base URL, data source)."""
    schema = tmp_path / "jobs.json"
    schema.write_text(
        json.dumps({"title": "Jobs", "properties": {"Name": {"title": {}}, "N": {"number": {}}}})
    )
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603  # our own interpreter and arguments
        [sys.executable, "-c", _RUN_CLI, "--port", str(port), "--database", str(schema)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        found = re.search(r"data source ([0-9a-f-]{36})", first)
        assert found, first
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{base_url}/_fake/outage")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the fake did not start"
                time.sleep(0.05)
        yield base_url, found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.slow
def test_separate_process_is_driven_over_http(standalone: tuple[str, str]) -> None:
    base_url, source_id = standalone
    with httpx.Client(base_url=base_url) as http:
        created = http.post(
            "/v1/pages",
            headers=headers(),
            json={
                "parent": {"data_source_id": source_id},
                "properties": {"Name": title("row"), "N": {"number": 7}},
            },
        )
        assert created.status_code == 200, created.text
        dumped = http.get(f"/_fake/data_sources/{source_id}/pages").json()
        assert dumped["object"] == "list"
        assert [p["properties"]["N"]["number"] for p in dumped["results"]] == [7]

        assert http.post("/_fake/outage", json={"status": 503}).json() == {"status": 503}
        down = http.post("/v1/pages", headers=headers(), json={})
        assert down.status_code == 503
        assert down.json()["code"] == "service_unavailable"
        http.post("/_fake/outage", json={"status": None})

        other = http.post(
            "/_fake/databases",
            json={"title": "Second", "properties": {"Title": {"title": {}}}},
        ).json()
        db = http.get(f"/v1/databases/{other['database_id']}", headers=headers()).json()
        assert db["data_sources"] == [{"id": other["data_source_id"], "name": "Second"}]
        bad = http.post("/_fake/databases", json={"title": "X", "properties": {}})
        assert bad.status_code == 400
        assert bad.json()["code"] == "validation_error"

        log = http.get("/_fake/log").json()
        assert log["page_creates"] == 1
        assert [r["status"] for r in log["requests"]] == [200, 503, 200]
        assert TOKEN not in json.dumps(log)


def test_control_routes_add_data_sources_and_dump_trashed(fake: EmbeddedFakeNotion) -> None:
    ids = fake.state.create_database("Jobs", {"Name": {"title": {}}})
    with httpx.Client(base_url=fake.base_url) as http:
        added = http.post(
            f"/_fake/databases/{ids.database_id}/data_sources",
            json={"name": "Archive", "properties": {"Title": {"title": {}}}},
        ).json()
        db = http.get(f"/v1/databases/{ids.database_id}", headers=headers()).json()
        assert [s["name"] for s in db["data_sources"]] == ["Jobs", "Archive"]
        page = http.post(
            "/v1/pages",
            headers=headers(),
            json={"parent": {"data_source_id": added["data_source_id"]}, "properties": {}},
        )
        assert page.status_code == 400
        page = http.post(
            "/v1/pages",
            headers=headers(),
            json={
                "parent": {"data_source_id": added["data_source_id"]},
                "properties": {"Title": title("old")},
            },
        ).json()
        http.patch(f"/v1/pages/{page['id']}", headers=headers(), json={"in_trash": True})
        dump = f"/_fake/data_sources/{added['data_source_id']}/pages"
        assert http.get(dump).json()["results"] == []
        trashed = http.get(dump, params={"include_trashed": "true"}).json()["results"]
        assert [p["in_trash"] for p in trashed] == [True]
        missing = http.get("/_fake/data_sources/00000000-0000-4000-8000-000000000000/pages")
        assert missing.status_code == 404
