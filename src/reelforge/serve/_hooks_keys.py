"""What the webhook receivers check signatures with, from the environment and the providers.

* ``OPENAI_WEBHOOK_SECRET`` — the OpenAI-protocol endpoint's Standard Webhooks secret
  (``whsec_…``); unset, ``/hooks/openai`` refuses every delivery (503, ``not_configured``).
* ``FAL_WEBHOOK_JWKS_URL`` — where fal's public keys are (default
  :data:`DEFAULT_FAL_JWKS_URL`; the simulator serves its own at ``/_fal/.well-known/jwks.json``).
  Fetched on first use and kept for at most :data:`JWKS_TTL`; fetched again (at most once a
  minute) when no cached key verifies a delivery, so a rotated key is picked up.
* ``REPLICATE_WEBHOOK_SECRET`` — Replicate's signing secret; unset, it is fetched once from
  ``GET /v1/webhooks/default/secret`` at ``REPLICATE_BASE_URL`` with ``REPLICATE_API_TOKEN``,
  and fetched again like fal's keys when it no longer verifies.

Secrets are :class:`~pydantic.SecretStr` and never appear in an answer, a log line or an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from standardwebhooks import Webhook

from reelforge.providers.replicate import DEFAULT_BASE_URL as REPLICATE_BASE_URL
from reelforge.serve._hooks_verify import Reason, Rejected, ed25519_key, standard_signer

__all__ = [
    "DEFAULT_FAL_JWKS_URL",
    "JWKS_TTL",
    "FalKeys",
    "HookSettings",
    "ReplicateSecret",
]

DEFAULT_FAL_JWKS_URL = "https://rest.fal.ai/.well-known/jwks.json"
JWKS_TTL = 24 * 3600.0
"""Seconds fal's keys are kept (fal: at most 24 hours)."""
REFETCH_AFTER = 60.0
"""Seconds a fetched key set is trusted to be current: a delivery no cached key verifies
fetches it again only after this long, so forged deliveries cannot make us hammer the source."""
_FETCH_TIMEOUT = 10.0
_MAX_KEYS_BYTES = 256 * 1024


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class HookSettings(BaseSettings):
    """The receivers' settings from the environment."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    openai_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_WEBHOOK_SECRET")
    )
    fal_jwks_url: str = Field(
        default=DEFAULT_FAL_JWKS_URL, validation_alias=AliasChoices("FAL_WEBHOOK_JWKS_URL")
    )
    replicate_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REPLICATE_WEBHOOK_SECRET")
    )
    replicate_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REPLICATE_API_TOKEN")
    )
    replicate_base_url: str = Field(
        default=REPLICATE_BASE_URL, validation_alias=AliasChoices("REPLICATE_BASE_URL")
    )

    @field_validator("openai_secret", "replicate_secret", "replicate_token", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return _blank_is_none(value)

    @field_validator("fal_jwks_url", "replicate_base_url", mode="before")
    @classmethod
    def _url(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().rstrip("/") or None
        return value


async def _get_json(
    transport: httpx.AsyncBaseTransport | None,
    url: str,
    what: str,
    headers: dict[str, str] | None = None,
) -> Any:
    """GET ``url`` as JSON (a client of its own: fetches are rare); :class:`Rejected`
    (``keys_unavailable``) naming ``what`` if it cannot be had (the message names neither
    credentials nor the answer's body)."""
    try:
        async with httpx.AsyncClient(transport=transport, timeout=_FETCH_TIMEOUT) as client:
            response = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise Rejected(
            Reason.KEYS_UNAVAILABLE, f"{what} could not be fetched ({type(exc).__name__})"
        ) from None
    if response.status_code != 200 or len(response.content) > _MAX_KEYS_BYTES:
        raise Rejected(
            Reason.KEYS_UNAVAILABLE, f"{what} could not be fetched (HTTP {response.status_code})"
        )
    try:
        return response.json()
    except ValueError:
        raise Rejected(Reason.KEYS_UNAVAILABLE, f"{what} is not JSON") from None


class _Cached:
    """A value fetched on demand, kept for ``ttl`` seconds, refreshed at most every
    :data:`REFETCH_AFTER` seconds on request; one fetch at a time."""

    def __init__(self, *, ttl: float, now: Callable[[], float]) -> None:
        self._ttl = ttl
        self._now = now
        self._fetched_at: float | None = None
        self.lock = asyncio.Lock()

    def fresh(self) -> bool:
        return self._fetched_at is not None and self._now() - self._fetched_at < self._ttl

    def may_refetch(self) -> bool:
        return self._fetched_at is None or self._now() - self._fetched_at >= REFETCH_AFTER

    def fetched(self) -> None:
        self._fetched_at = self._now()


class FalKeys:
    """fal's webhook public keys from a JWKS URL, cached."""

    def __init__(
        self,
        url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._transport = transport
        self._cache = _Cached(ttl=JWKS_TTL, now=now)
        self._keys: list[Ed25519PublicKey] = []

    async def keys(self, *, refresh: bool = False) -> list[Ed25519PublicKey]:
        """The keys (fetched when none are cached or they are older than a day; with
        ``refresh``, fetched again unless they were fetched within the last minute)."""
        async with self._cache.lock:
            stale = not self._cache.fresh() or (refresh and self._cache.may_refetch())
            if stale:
                try:
                    self._keys = await self._fetch()
                    self._cache.fetched()
                except Rejected:
                    if not self._keys:
                        raise  # with keys cached, a failed refresh keeps them
            return list(self._keys)

    async def _fetch(self) -> list[Ed25519PublicKey]:
        data = await _get_json(self._transport, self.url, "fal's webhook keys (JWKS)")
        entries = data.get("keys") if isinstance(data, dict) else None
        keys = [
            key
            for entry in entries or ()
            if isinstance(entry, dict)
            and entry.get("kty") == "OKP"
            and entry.get("crv") == "Ed25519"
            and isinstance(entry.get("x"), str)
            and (key := ed25519_key(entry["x"])) is not None
        ]
        if not keys:
            raise Rejected(Reason.KEYS_UNAVAILABLE, "fal's JWKS holds no Ed25519 key")
        return keys


class ReplicateSecret:
    """Replicate's webhook signing secret: the configured one, or the account's, fetched."""

    def __init__(
        self,
        settings: HookSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._cache = _Cached(ttl=float("inf"), now=now)
        self._signer: Webhook | None = None

    async def signer(self, *, refresh: bool = False) -> Webhook:
        """The signer (``REPLICATE_WEBHOOK_SECRET``, else fetched; with ``refresh``, fetched
        again unless it was within the last minute)."""
        configured = self._settings.replicate_secret
        if configured is not None:
            return standard_signer(configured.get_secret_value())
        token = self._settings.replicate_token
        if token is None:
            raise Rejected(
                Reason.NOT_CONFIGURED,
                "neither REPLICATE_WEBHOOK_SECRET nor REPLICATE_API_TOKEN is set",
            )
        async with self._cache.lock:
            if self._signer is None or (refresh and self._cache.may_refetch()):
                try:
                    self._signer = standard_signer(await self._fetch(token))
                    self._cache.fetched()
                except Rejected:
                    if self._signer is None:
                        raise  # with a secret cached, a failed refresh keeps it
            return self._signer

    async def _fetch(self, token: SecretStr) -> str:
        url = f"{self._settings.replicate_base_url}/v1/webhooks/default/secret"
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
        data = await _get_json(self._transport, url, "Replicate's webhook secret", headers)
        key = data.get("key") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key.startswith("whsec_"):
            raise Rejected(Reason.KEYS_UNAVAILABLE, "Replicate sent no whsec_ secret")
        return key
