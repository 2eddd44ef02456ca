"""fal's settings from the environment: the key in either form, never shown; the entry's
endpoints (configured, or the simulator's root)."""

from __future__ import annotations

import pytest

from reelforge.providers.fal_entry import FAL, FalSettings

SECRET = "s3cr3t-fal-value"
_ENV = ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET", "FAL_QUEUE_BASE_URL", "REELFORGE_PUBLIC_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def test_fal_key_is_the_key_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAL_KEY", f"id:{SECRET}")
    settings = FalSettings()
    assert settings.key is not None
    assert settings.key.get_secret_value() == f"id:{SECRET}"
    assert SECRET not in repr(settings)
    endpoint = FAL.configured()
    assert endpoint is not None
    assert endpoint.base_url == "https://queue.fal.run"
    assert SECRET not in repr(endpoint)


def test_key_id_and_secret_are_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAL_KEY_ID", "abc")
    monkeypatch.setenv("FAL_KEY_SECRET", SECRET)
    monkeypatch.setenv("FAL_QUEUE_BASE_URL", "https://queue.example/ ")
    settings = FalSettings()
    assert settings.key is not None
    assert settings.key.get_secret_value() == f"abc:{SECRET}"
    endpoint = FAL.configured()
    assert endpoint is not None
    assert endpoint.base_url == "https://queue.example"


def test_nothing_set_means_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAL_KEY_ID", "only-half")
    assert FAL.configured() is None
    simulated = FAL.simulated("http://127.0.0.1:8123/v1")
    assert simulated is not None
    assert simulated.base_url == "http://127.0.0.1:8123"
    assert simulated.simulated
