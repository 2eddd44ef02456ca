"""Which sinks run: reelforge.toml's [sinks] table and the flags, checked before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelforge.cli.main import app
from reelforge.core.errors import ConfigError
from reelforge.sinks import JsonlSink, WebhookSink
from reelforge.sinks.config import SinkPlan, build_sinks, load_config, resolve_sinks
from reelforge.store import Store

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRETS = {"HOOK_SECRET": SECRET, "REELFORGE_WEBHOOK_SECRET": SECRET}
TOML = """\
[sinks.notion]
enabled = true
public_base_url = "https://cdn.example.com/reelforge/"
properties = { Status = "Stage" }

[[sinks.webhooks]]
url = "https://hooks.example.com/reelforge?token=abc123"
secret_env = "HOOK_SECRET"

[sinks.jsonl]
path = "events.jsonl"

[other]
ignored = true
"""


@pytest.fixture
def notion_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTION_TOKEN", "secret_notion-token")
    monkeypatch.setenv("NOTION_BATCH_DATABASE_ID", "db-123")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reelforge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_names_every_sink(tmp_path: Path, notion_env: None) -> None:
    plan = resolve_sinks(load_config(_write(tmp_path, TOML)), environ=SECRETS)

    assert plan.notion is not None
    assert plan.notion.database_id == "db-123"
    assert plan.notion.public_base_url == "https://cdn.example.com/reelforge"
    assert plan.notion.prop("Status") == "Stage"
    assert [(w.url, w.secret_env) for w in plan.webhooks] == [
        ("https://hooks.example.com/reelforge?token=abc123", "HOOK_SECRET")
    ]
    assert plan.jsonl == Path("events.jsonl")
    described = plan.describe()
    assert "abc123" not in described  # the URL's token is never shown
    assert "abc123" not in repr(plan.webhooks[0])
    assert described.startswith("notion, webhook https://hooks.example.com/reelforge?…")


def test_flags_add_to_the_file_and_switch_notion_off(tmp_path: Path, notion_env: None) -> None:
    plan = resolve_sinks(
        load_config(_write(tmp_path, TOML)),
        notion=False,
        webhooks=["http://127.0.0.1:9/hook"],
        jsonl=tmp_path / "other.jsonl",
        environ=SECRETS,
    )
    assert plan.notion is None
    assert [w.url for w in plan.webhooks][-1] == "http://127.0.0.1:9/hook"
    assert plan.webhooks[-1].secret_env == "REELFORGE_WEBHOOK_SECRET"
    assert plan.jsonl == tmp_path / "other.jsonl"


def test_no_file_and_no_flags_is_no_sinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan = resolve_sinks(load_config())
    assert not plan
    assert plan.describe() == "none"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sinks.notion]\nenabld = true\n", "reelforge.toml: sinks.notion.enabld: Extra inputs"),
        ("[[sinks.webhooks]]\nurl = 'ftp://x'\n", "is not an http:// or https:// URL"),
        ("[sinks.jsonl]\n", "sinks.jsonl.path: Field required"),
        ("[sinks\n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:  # the message is checked below
        resolve_sinks(load_config(path))
    assert message in str(info.value)


def test_a_missing_named_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "needs its secret in REELFORGE_WEBHOOK_SECRET"),
        ({"REELFORGE_WEBHOOK_SECRET": "whsec_not base64!"}, "the webhook secret is not usable"),
    ],
)
def test_webhook_secrets_are_checked_when_resolving(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        resolve_sinks({}, webhooks=["https://hooks.example.com/x"], environ=environ)
    assert "not base64!" not in str(info.value)


def test_notion_without_credentials_names_the_variables() -> None:
    with pytest.raises(ConfigError, match="NOTION_TOKEN and NOTION_BATCH_DATABASE_ID"):
        resolve_sinks({}, notion=True)


def test_build_reads_secrets_from_the_environment_only(tmp_path: Path) -> None:
    plan = resolve_sinks(
        {}, webhooks=["https://hooks.example.com/x"], jsonl=tmp_path / "e.jsonl", environ=SECRETS
    )
    with Store.for_path(tmp_path / "db.sqlite") as store:
        store.migrate()
        with pytest.raises(ConfigError, match="needs its secret in REELFORGE_WEBHOOK_SECRET"):
            build_sinks(plan, store=store, environ={})
        sinks = build_sinks(plan, store=store, environ={"REELFORGE_WEBHOOK_SECRET": SECRET})
    assert [type(sink) for sink in sinks] == [WebhookSink, JsonlSink]
    assert SECRET not in repr(sinks[0])


def test_run_refuses_a_webhook_without_its_secret(tmp_path: Path) -> None:
    batch = tmp_path / "b.yaml"
    batch.write_text('jobs:\n  - {prompt: "A kite"}\n', encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(batch),
            "--webhook",
            "https://hooks.example.com/x",
            "--db",
            str(tmp_path / "d"),
        ],
    )
    assert result.exit_code == 2
    assert "REELFORGE_WEBHOOK_SECRET" in result.output
    assert not (tmp_path / "d").exists()


def test_sinks_sync_without_sinks_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["sinks", "sync", "--db", str(tmp_path / "db.sqlite")])
    assert result.exit_code == 2
    assert "no sinks configured" in result.output


def test_plan_is_falsy_only_when_empty() -> None:
    assert not SinkPlan()
    assert SinkPlan(jsonl=Path("x.jsonl"))
