"""``reelforge sinks status``, through a small Typer app holding just that group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from sink_helpers import add_batch
from typer.testing import CliRunner

from reelforge.cli._common import out_console
from reelforge.cli.sinks import sinks_app
from reelforge.store import Store

app = typer.Typer()
app.add_typer(sinks_app)


def test_status_lists_each_sink_with_its_lag(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(out_console, "width", 200)  # a wide terminal: one row per sink
    add_batch(store, 2)
    events = store.events_after(0, 10)
    store.advance_sink("webhook:1a2b3c4d", events[0].id, delivered=1)
    store.record_sink_error("webhook:1a2b3c4d", "https://h.example/in answered 503")
    store.advance_sink("jsonl:events.jsonl:99", events[-1].id, delivered=2)
    store.disable_sink("notion", "HTTP 410 Gone")
    result = CliRunner().invoke(app, ["sinks", "status", "--db", store.url])
    assert result.exit_code == 0, result.output
    for text in ("webhook:1a2b3c4d", "jsonl:events.jsonl:99", "notion", "answered 503", "yes"):
        assert text in result.output
    assert "lag events" in result.output


def test_status_as_json(store: Store, db_path: Path) -> None:
    add_batch(store, 2)
    events = store.events_after(0, 10)
    store.advance_sink("webhook:1a2b3c4d", events[0].id, delivered=1)
    result = CliRunner().invoke(app, ["sinks", "status", "--db", store.url, "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)["sinks"]
    assert entry["name"] == "webhook:1a2b3c4d"
    assert entry["cursor"] == events[0].id
    assert entry["lag_events"] == len(events) - 1
    assert entry["disabled"] is False


def test_status_with_no_sinks_yet(store: Store, db_path: Path) -> None:
    result = CliRunner().invoke(app, ["sinks", "status", "--db", store.url])
    assert result.exit_code == 0
    assert "no sink has run" in result.output


def test_enable_clears_a_disabled_sink(store: Store, db_path: Path) -> None:
    store.disable_sink("webhook:1a2b3c4d", "HTTP 410 Gone")
    result = CliRunner().invoke(app, ["sinks", "enable", "webhook:1a2b3c4d", "--db", store.url])
    assert result.exit_code == 0, result.output
    assert "enabled" in result.output
    assert not store.sink_cursor("webhook:1a2b3c4d").disabled
    again = CliRunner().invoke(app, ["sinks", "enable", "webhook:1a2b3c4d", "--db", store.url])
    assert "was not disabled" in again.output


def test_enable_an_unknown_sink_is_bad_input(store: Store, db_path: Path) -> None:
    store.advance_sink("notion", 0)
    result = CliRunner().invoke(app, ["sinks", "enable", "nope", "--db", store.url])
    assert result.exit_code == 2
    assert "unknown sink 'nope'; known sinks: notion" in result.output
