"""Before a run with --notion: a setup problem stops it (exit 2, nothing sent); Notion merely
down does not (the run goes on and the pages follow)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from notion_e2e import TOKEN
from typer.testing import CliRunner

from reelforge.cli.main import app
from reelforge.fakenotion import EmbeddedFakeNotion, FakeNotionConfig
from reelforge.sim import EmbeddedSimulator, SimConfig

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BATCH = """\
batch: preflight
defaults: {model: sora-2, seconds: 4, size: 1280x720}
jobs:
  - {key: kite, prompt: "A red kite over dunes"}
  - {key: lake, prompt: "A quiet lake at dawn"}
"""


@pytest.fixture
def fake() -> Iterator[EmbeddedFakeNotion]:
    with EmbeddedFakeNotion(FakeNotionConfig(tokens=(TOKEN,))) as emb:
        yield emb


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedSimulator]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-e2e-preflight")
    with EmbeddedSimulator(SimConfig()) as emb:
        yield emb


def _run(
    monkeypatch: pytest.MonkeyPatch,
    fake: EmbeddedFakeNotion,
    sim: EmbeddedSimulator,
    tmp_path: Path,
    *,
    database_id: str,
    token: str = TOKEN,
) -> tuple[int, str]:
    monkeypatch.setenv("NOTION_TOKEN", token)
    monkeypatch.setenv("NOTION_BATCH_DATABASE_ID", database_id)
    monkeypatch.setenv("NOTION_BASE_URL", fake.base_url)
    batch = tmp_path / "batch.yaml"
    batch.write_text(BATCH, encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "run", str(batch), "--base-url", sim.base_url, "--db", str(tmp_path / "db.sqlite"),
            "--out", str(tmp_path / "out"), "--notion", "--json",
        ],
    )  # fmt: skip
    return result.exit_code, result.output


@pytest.mark.parametrize("problem", ["no Job ID property", "wrong token", "unknown database"])
def test_a_setup_problem_stops_the_run_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch,
    fake: EmbeddedFakeNotion,
    sim: EmbeddedSimulator,
    tmp_path: Path,
    problem: str,
) -> None:
    database = fake.state.create_database("Videos", {"Name": {"title": {}}})  # never initialised
    database_id = database.database_id
    token = TOKEN
    if problem == "wrong token":
        token = "secret_not-the-right-one"
    elif problem == "unknown database":
        database_id = "00000000-0000-4000-8000-000000000000"

    code, output = _run(monkeypatch, fake, sim, tmp_path, database_id=database_id, token=token)

    assert code == 2, output
    assert "the Notion sink cannot work" in output
    assert {"no Job ID property": "reelforge notion init", "wrong token": "NOTION_TOKEN"}.get(
        problem, "shared with the integration"
    ) in " ".join(output.split())
    assert token not in output
    assert sim.sim.log.creates == []


def test_notion_down_at_the_start_does_not_stop_the_run(
    monkeypatch: pytest.MonkeyPatch,
    fake: EmbeddedFakeNotion,
    sim: EmbeddedSimulator,
    tmp_path: Path,
) -> None:
    database = fake.state.create_database(
        "Videos", {"Name": {"title": {}}, "Job ID": {"rich_text": {}}}
    )
    fake.state.set_outage(503)
    comeback = threading.Timer(2.0, fake.state.set_outage, args=(None,))  # back mid-run
    comeback.start()

    code, output = _run(monkeypatch, fake, sim, tmp_path, database_id=database.database_id)

    comeback.join()
    assert code == 0, output
    pages = fake.state.pages(database.data_source_id)
    assert len(pages) == 2
    assert len(sim.sim.log.creates) == 2
