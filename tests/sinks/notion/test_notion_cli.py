"""``reelforge notion init | sync | status``: exit codes and messages, against the fake Notion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notion_helpers import TOKEN, add_jobs, finish
from typer.testing import CliRunner

from reelforge.cli.notion import notion_app
from reelforge.fakenotion import CreatedDatabase, EmbeddedFakeNotion
from reelforge.store import Store

CAMPAIGN = """\
campaign: spring-launch
brand: Acme
product_category: sparkling water
big_idea: Refreshment that keeps up with you
defaults: {provider: openai, model: sora-2, seconds: 8, size: 1280x720}
dimensions:
  aesthetic: [cinematic, lo-fi handheld]
  type: [product hero, lifestyle]
template: "{{ aesthetic }} {{ type }} video ad for {{ brand }} {{ product_category }}"
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner in an empty folder (no reelforge.toml unless a test writes one)."""
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.fixture
def env(fake: EmbeddedFakeNotion, database: CreatedDatabase) -> dict[str, str]:
    return {
        "NOTION_TOKEN": TOKEN,
        "NOTION_BATCH_DATABASE_ID": database.database_id,
        "NOTION_BASE_URL": fake.base_url,
    }


def _props(fake: EmbeddedFakeNotion, database: CreatedDatabase) -> dict[str, str]:
    schema = fake.state.data_source_json(database.data_source_id)["properties"]
    return {name: prop["type"] for name, prop in schema.items()}


@pytest.mark.parametrize("command", [["init"], ["sync", "--db", "x.db"]])
def test_missing_settings_exit_2_naming_the_variables(
    runner: CliRunner, command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(notion_app, command)
    assert result.exit_code == 2
    assert "NOTION_TOKEN" in result.stderr
    assert "NOTION_BATCH_DATABASE_ID" in result.stderr


def test_init_dry_run_json_changes_nothing(
    runner: CliRunner, env: dict[str, str], fake: EmbeddedFakeNotion, database: CreatedDatabase
) -> None:
    result = runner.invoke(notion_app, ["init", "--dry-run", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert report["changed"] is False
    assert "Job ID" in report["added"]
    assert _props(fake, database) == {"Name": "title"}


def test_init_with_a_campaign_adds_its_dimensions(
    runner: CliRunner,
    env: dict[str, str],
    fake: EmbeddedFakeNotion,
    database: CreatedDatabase,
    tmp_path: Path,
) -> None:
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(CAMPAIGN, encoding="utf-8")
    result = runner.invoke(notion_app, ["init", "--campaign", str(campaign)], env=env)
    assert result.exit_code == 0, result.stderr
    assert "added 23 properties" in result.stdout
    props = _props(fake, database)
    assert props["Aesthetic"] == "rich_text"
    assert props["Type"] == "rich_text"
    assert props["Cost"] == "number"


def test_init_on_a_conflicting_type_exits_2_and_changes_nothing(
    runner: CliRunner, env: dict[str, str], fake: EmbeddedFakeNotion
) -> None:
    ids = fake.state.create_database("Bad", {"Name": {"title": {}}, "Cost": {"rich_text": {}}})
    result = runner.invoke(
        notion_app, ["init"], env=env | {"NOTION_BATCH_DATABASE_ID": ids.database_id}
    )
    assert result.exit_code == 2
    assert "'Cost' is rich_text, expected number" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert _props(fake, ids) == {"Name": "title", "Cost": "rich_text"}


def test_sync_then_status(
    runner: CliRunner,
    env: dict[str, str],
    fake: EmbeddedFakeNotion,
    database: CreatedDatabase,
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    out = tmp_path / "out"
    with Store.for_path(db) as store:
        store.migrate()
        jobs = add_jobs(store, 3, out_dir=out)
        finish(store, jobs[0], "video_cli", out)
    assert runner.invoke(notion_app, ["init"], env=env).exit_code == 0

    result = runner.invoke(notion_app, ["sync", "--db", str(db)], env=env)
    assert result.exit_code == 0, result.stderr
    assert fake.state.log.page_creates() == 3

    result = runner.invoke(notion_app, ["status", "--db", str(db), "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["name"] == "notion"
    assert state["pages"] == 3
    assert state["lag_events"] == 0
    assert state["cursor"] == state["head"] > 0

    text = runner.invoke(notion_app, ["status", "--db", str(db)], env=env)
    assert "pages  3" in text.stdout


def test_sync_with_a_wrong_token_fails_at_once_without_showing_it(
    runner: CliRunner, env: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "state.db"
    with Store.for_path(db) as store:
        store.migrate()
        add_jobs(store, 1, out_dir=tmp_path / "out")
    wrong = env | {"NOTION_TOKEN": "secret_not_the_right_one_42"}
    result = runner.invoke(notion_app, ["sync", "--db", str(db)], env=wrong)
    assert result.exit_code == 1
    assert "HTTP 401" in result.stderr
    assert "NOTION_TOKEN" in result.stderr
    assert "secret_not_the_right_one_42" not in result.stderr + result.stdout


def test_init_uses_the_property_names_of_reelforge_toml(
    runner: CliRunner,
    env: dict[str, str],
    fake: EmbeddedFakeNotion,
    database: CreatedDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reelforge.toml").write_text(
        '[sinks.notion]\nproperties = { Status = "Stage" }\n', encoding="utf-8"
    )
    result = runner.invoke(notion_app, ["init"], env=env)
    assert result.exit_code == 0, result.stderr
    props = _props(fake, database)
    assert props["Stage"] == "select"
    assert "Status" not in props
