"""Pure pieces of the Notion sink: names, text splitting, settings, the public surface."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelforge.core.errors import ConfigError, ErrorCategory
from reelforge.core.models import JobState
from reelforge.sinks import notion
from reelforge.sinks.notion import NotionSettings, dimension_property, error_type, status_name
from reelforge.sinks.notion.properties import split_text, truncate_text


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_every_job_state_has_a_status() -> None:
    assert {status_name(s) for s in JobState} == {
        "Pending",
        "Queued",
        "In Progress",
        "Completed",
        "Failed",
        "Rejected",
        "Needs Review",
        "Canceled",
    }
    assert status_name(JobState.DOWNLOADING) == "In Progress"
    assert status_name(JobState.SUBMITTING) == "Queued"


def test_error_types() -> None:
    assert error_type(ErrorCategory.COMPLIANCE) == "compliance_failed"
    assert error_type(ErrorCategory.CONTENT_POLICY) == "compliance_failed"
    assert error_type(ErrorCategory.GENERATION_FAILED) == "generation_failed"
    assert error_type(ErrorCategory.TIMEOUT) == "timeout"
    assert error_type(ErrorCategory.EXPIRED) == "expired"
    for other in (ErrorCategory.AUTH, ErrorCategory.TRANSIENT, ErrorCategory.RATE_LIMITED):
        assert error_type(other) == "api_error"
    assert error_type(None) is None


def test_dimension_property_names() -> None:
    assert dimension_property("aesthetic") == "Aesthetic"
    assert dimension_property("target_age") == "Target Age"
    assert dimension_property("status") == "Status (dimension)"


@given(st.text(max_size=7000))
def test_split_text_round_trips_within_limits(text: str) -> None:
    parts = split_text(text)
    assert "".join(parts) == text
    assert all(0 < _units(p) <= 2000 for p in parts)


def test_split_text_stops_at_100_objects() -> None:
    parts = split_text("x" * 250_000)
    assert len(parts) == 100
    assert parts[-1].endswith("…")
    assert all(_units(p) <= 2000 for p in parts)


def test_truncate_never_cuts_a_character_in_two() -> None:
    cut = truncate_text("🌅" * 1500)
    assert _units(cut) <= 2000
    assert cut.endswith("…")
    assert cut[:-1] == "🌅" * 999


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTION_TOKEN", "secret_env_token")
    monkeypatch.setenv("NOTION_DATABASE_ID", "abc123")
    monkeypatch.setenv("NOTION_BASE_URL", "http://127.0.0.1:8010/")
    monkeypatch.setenv("REELFORGE_PUBLIC_BASE_URL", "https://cdn.example.com/v/")
    settings = NotionSettings(property_names={"Cost": "Estimated cost"})
    assert settings.require() == ("secret_env_token", "abc123")
    assert settings.base_url == "http://127.0.0.1:8010"
    assert settings.public_base_url == "https://cdn.example.com/v"
    assert settings.prop("Cost") == "Estimated cost"
    assert settings.prop("Status") == "Status"
    assert "secret_env_token" not in repr(settings)


def test_missing_settings_name_the_variables() -> None:
    with pytest.raises(ConfigError, match="NOTION_TOKEN and NOTION_BATCH_DATABASE_ID"):
        NotionSettings().require()


def test_all_is_sorted_and_complete() -> None:
    exported = list(notion.__all__)

    def key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)

    assert exported == sorted(exported, key=key)
    for name in exported:
        assert hasattr(notion, name)
