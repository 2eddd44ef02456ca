"""The ``vertex`` entry: settings from the environment, Application Default Credentials, and
the simulated endpoint that needs nobody's Google credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai_fakes import FakeClock
from test_vertex_kit import EMAIL, MODEL, PROJECT, private_pem, vertex_config

from reelforge.core.errors import ConfigError
from reelforge.core.models import JobSpec, RemoteState
from reelforge.providers.registry import Endpoint
from reelforge.providers.vertex import VertexProvider
from reelforge.providers.vertex_entry import VERTEX, VertexSettings
from reelforge.sim import SimConfig, Simulator

ENV = (
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "VERTEX_BASE_URL",
    "VERTEX_STORAGE_URI",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    made = Simulator(
        SimConfig(time_scale=1.0, media_scale=0.125, fps=2, vertex=vertex_config()),
        clock=FakeClock(),
    )
    yield made
    made.close()


def test_unconfigured_without_a_project() -> None:
    assert VERTEX.configured() is None


@pytest.mark.parametrize(
    ("location", "host"),
    [
        (None, "https://us-central1-aiplatform.googleapis.com"),
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
    ],
)
def test_the_host_follows_the_location(
    monkeypatch: pytest.MonkeyPatch, location: str | None, host: str
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-proj")
    if location is not None:
        monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", location)
    endpoint = VERTEX.configured()
    assert endpoint is not None
    assert endpoint.base_url == (
        f"{host}/v1/projects/my-proj/locations/{location or 'us-central1'}"
    )
    assert endpoint.credential is None


def test_base_url_overrides_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-proj")
    monkeypatch.setenv("VERTEX_BASE_URL", "http://proxy.local:8080/")
    assert VertexSettings().host == "http://proxy.local:8080"


async def test_no_credentials_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-proj")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    endpoint = VERTEX.configured()
    assert endpoint is not None
    async with httpx.AsyncClient() as client:
        with pytest.raises(ConfigError, match="GOOGLE_CLOUD_PROJECT"):
            VERTEX.build(endpoint, client=client, clock=FakeClock())


async def test_a_service_account_file_through_adc(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim: Simulator
) -> None:
    key_file = tmp_path / "sa.json"
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "adc",
        "private_key": private_pem(),
        "client_email": EMAIL,
        "client_id": "1",
        "token_uri": "http://sim/token",
    }
    key_file.write_text(json.dumps(info), encoding="utf-8")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("VERTEX_BASE_URL", "http://sim")
    endpoint = VERTEX.configured()
    assert endpoint is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
        provider = VERTEX.build(endpoint, client=client, clock=FakeClock())
        assert isinstance(provider, VertexProvider)
        status = await provider.submit(JobSpec(prompt="a fox", model=MODEL, seconds=4))
        assert status.remote_id.startswith(f"projects/{PROJECT}/locations/us-central1/")
    assert len(sim.log.creates) == 1


async def test_the_simulated_endpoint_signs_with_the_simulators_own_key(sim: Simulator) -> None:
    endpoint = VERTEX.simulated("http://sim/v1")
    assert isinstance(endpoint, Endpoint)
    assert endpoint.simulated
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
        provider = VERTEX.build(endpoint, client=client, clock=FakeClock())
        status = await provider.submit(JobSpec(prompt="a fox", model=MODEL, seconds=4))
        assert (await provider.fetch(status.remote_id)).state is RemoteState.IN_PROGRESS
    assert [r.path for r in sim.log.requests if r.path.endswith(":predictLongRunning")]
