"""docs/fake-notion.md documents every setting and every control route the app serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.routing import Route

from reelforge.fakenotion import FakeNotionConfig, FakeNotionState, create_app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "fake-notion.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("key", list(FakeNotionConfig.model_fields))
def test_every_setting_is_documented(key: str) -> None:
    assert f"| `{key}` |" in DOC


def _paths() -> list[str]:
    app = create_app(FakeNotionState())
    return [route.path for route in app.routes if isinstance(route, Route)]


@pytest.mark.parametrize("path", [p for p in _paths() if p.startswith("/_fake")])
def test_every_control_route_is_documented(path: str) -> None:
    documented = path.replace("{database_id}", "{id}").replace("{data_source_id}", "{id}")
    assert f"{documented}`" in DOC


@pytest.mark.parametrize(
    "path", [p for p in _paths() if p.startswith("/v1/") and "{path:path}" not in p]
)
def test_every_api_route_is_documented(path: str) -> None:
    documented = path.replace("{object_id}", "{id}")
    assert f"{documented}`" in DOC
