import pytest

from reelforge import Settings
from reelforge.providers.openai_entry import OpenAISettings


def test_reads_the_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway.example/v1/")
    settings = OpenAISettings()
    assert settings.has_credentials
    assert settings.base_url == "https://gateway.example/v1"
    assert "sk-test-123" not in repr(settings)
    assert "sk-test-123" not in str(settings.model_dump())


def test_sora_api_base_url_is_an_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("SORA_API_BASE_URL", "https://legacy.example/v1")
    assert OpenAISettings().base_url == "https://legacy.example/v1"


def test_blank_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "  ")
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    settings = OpenAISettings()
    assert not settings.has_credentials
    assert settings.base_url is None


def test_display_url_never_shows_a_password() -> None:
    from reelforge.core.config import display_url

    assert display_url("postgresql://app:s3cret@db.example/reel") == (
        "postgresql://app:***@db.example/reel"
    )
    assert display_url("sqlite:////data/reelforge.db") == "/data/reelforge.db"


def test_reelforge_settings_hold_no_provider_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    monkeypatch.setenv("REELFORGE_DB_URL", "sqlite:////tmp/x.db")
    settings = Settings()
    assert settings.reelforge_db_url == "sqlite:////tmp/x.db"
    assert "sk-test-123" not in str(settings.model_dump())
