"""The ``vertex`` provider's registry entry and settings (Veo on Google Cloud).

Settings, from the environment:

* ``GOOGLE_CLOUD_PROJECT`` — the Google Cloud project; Vertex counts as configured when it is
  set. Credentials are Application Default Credentials (``google.auth.default``): a
  service-account file named by ``GOOGLE_APPLICATION_CREDENTIALS``, or gcloud's user
  credentials (``gcloud auth application-default login``), with the ``cloud-platform`` scope;
* ``GOOGLE_CLOUD_LOCATION`` — the region, ``us-central1`` by default (``global`` uses
  ``aiplatform.googleapis.com``, any other ``{location}-aiplatform.googleapis.com``);
* ``VERTEX_BASE_URL`` — another host (a proxy, a simulator); Cloud Storage downloads then go to
  the same origin;
* ``VERTEX_STORAGE_URI`` — a ``gs://bucket/prefix/``: videos are written there instead of
  coming back inline.

With no project set, the built-in simulator serves this provider. It needs nobody's Google
credentials: the simulated endpoint signs its token requests with the simulator's own
throwaway service account (:data:`reelforge.sim.vertex_wire.SIMULATOR_SERVICE_ACCOUNT`, a
published key only the simulator trusts) against the simulator's ``/token``.
"""

from __future__ import annotations

import re
from typing import cast

import httpx
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reelforge.core.capabilities import ModelCapabilities, capabilities_for
from reelforge.core.clock import Clock
from reelforge.core.errors import ConfigError
from reelforge.providers._vertex_auth import GoogleCredentials
from reelforge.providers.base import Provider
from reelforge.providers.registry import Endpoint
from reelforge.providers.vertex import DEFAULT_LOCATION, VertexProvider, vertex_host

__all__ = ["CLOUD_PLATFORM_SCOPE", "SIMULATOR_PROJECT", "VERTEX", "VertexEntry", "VertexSettings"]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
SIMULATOR_PROJECT = "reelforge-sim"
"""The project the simulated endpoint uses."""
_ENDPOINT_RE = re.compile(r"^(.+)/v1/projects/([^/]+)/locations/([^/]+)$")


class VertexSettings(BaseSettings):
    """The ``vertex`` provider's settings (no secret: credentials come from ADC)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    project: str | None = Field(
        default=None, validation_alias=AliasChoices("GOOGLE_CLOUD_PROJECT", "project")
    )
    location: str = Field(
        default=DEFAULT_LOCATION,
        validation_alias=AliasChoices("GOOGLE_CLOUD_LOCATION", "location"),
    )
    base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("VERTEX_BASE_URL", "base_url")
    )
    storage_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("VERTEX_STORAGE_URI", "storage_uri")
    )

    @field_validator("project", "storage_uri", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("location", mode="before")
    @classmethod
    def _location(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or DEFAULT_LOCATION
        return value

    @field_validator("base_url", mode="before")
    @classmethod
    def _strip_url(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().rstrip("/") or None
        return value

    @property
    def host(self) -> str:
        """Where requests go: ``VERTEX_BASE_URL`` or the location's host."""
        return self.base_url or vertex_host(self.location)


class VertexEntry:
    """The registry entry of Veo on Vertex AI."""

    name = "vertex"
    credentials_hint = (
        "set GOOGLE_CLOUD_PROJECT (and GOOGLE_CLOUD_LOCATION) with Application Default "
        "Credentials (GOOGLE_APPLICATION_CREDENTIALS or gcloud auth application-default "
        "login), or leave the project unset to use the built-in simulator"
    )

    def configured(self) -> Endpoint | None:
        settings = VertexSettings()
        if settings.project is None:
            return None
        base = f"{settings.host}/v1/projects/{settings.project}/locations/{settings.location}"
        return Endpoint(provider=self.name, base_url=base)

    def simulated(self, simulator_url: str) -> Endpoint | None:
        root = simulator_url.rstrip("/").removesuffix("/v1")
        base = f"{root}/v1/projects/{SIMULATOR_PROJECT}/locations/{DEFAULT_LOCATION}"
        return Endpoint(provider=self.name, base_url=base, simulated=True)

    def capabilities(self, model: str) -> ModelCapabilities:
        return capabilities_for(model, provider=self.name)

    def build(self, endpoint: Endpoint, *, client: httpx.AsyncClient, clock: Clock) -> Provider:
        match = _ENDPOINT_RE.match(endpoint.base_url.rstrip("/"))
        if match is None:
            raise ConfigError(f"not a Vertex endpoint: {endpoint.base_url}")
        host, project, location = match.groups()
        if endpoint.simulated:
            credentials = simulator_credentials(host)
            return VertexProvider(
                client,
                project=project,
                location=location,
                base_url=host,
                credentials=credentials,
                clock=clock,
            )
        settings = VertexSettings()
        return VertexProvider(
            client,
            project=project,
            location=location,
            base_url=settings.base_url,
            credentials=_default_credentials(self.credentials_hint),
            storage_uri=settings.storage_uri,
            clock=clock,
        )


def simulator_credentials(root: str) -> GoogleCredentials:
    """Credentials of the simulator's throwaway service account, for its ``/token``."""
    from google.oauth2 import service_account  # noqa: PLC0415  # loaded only when used

    from reelforge.sim.vertex_wire import SIMULATOR_SERVICE_ACCOUNT  # noqa: PLC0415

    info = {**SIMULATOR_SERVICE_ACCOUNT, "token_uri": f"{root.rstrip('/')}/token"}
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]  # untyped lib
        info, scopes=[CLOUD_PLATFORM_SCOPE]
    )
    return cast("GoogleCredentials", credentials)


def _default_credentials(hint: str) -> GoogleCredentials:
    import google.auth  # noqa: PLC0415  # loaded only when Vertex is used
    from google.auth import exceptions  # noqa: PLC0415

    try:
        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except exceptions.DefaultCredentialsError as exc:
        raise ConfigError(f"no Google credentials for Vertex: {hint}") from exc
    return cast("GoogleCredentials", credentials)


VERTEX = VertexEntry()
