"""Which sinks run: ``reelforge.toml`` and command-line flags, resolved into sinks.

::

    # reelforge.toml (in the working folder, or --config FILE)
    [sinks.notion]
    enabled = true                      # NOTION_TOKEN and NOTION_BATCH_DATABASE_ID: environment
    public_base_url = "https://cdn.example.com/reelforge"
    properties = { Status = "Stage" }   # default name -> the name in your database

    [[sinks.webhooks]]
    url = "https://hooks.example.com/reelforge"
    secret_env = "REELFORGE_WEBHOOK_SECRET"   # the secret itself stays in the environment

    [sinks.jsonl]
    path = "reelforge-events.jsonl"

Flags add to the file: ``--notion/--no-notion``, ``--webhook URL`` (repeatable; secret from
``REELFORGE_WEBHOOK_SECRET``), ``--events-jsonl PATH``. Secrets are never read from the file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reelforge.core.errors import ConfigError
from reelforge.sinks.base import Sink
from reelforge.sinks.jsonl import JsonlSink
from reelforge.sinks.notion.settings import NotionSettings
from reelforge.sinks.verify import signer
from reelforge.sinks.webhook import WebhookSink, redact_url
from reelforge.store import Store

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_SECRET_ENV",
    "SinkPlan",
    "WebhookTarget",
    "build_sinks",
    "load_config",
    "resolve_sinks",
]

CONFIG_FILE = Path("reelforge.toml")
"""Read from the working folder when it exists (``--config`` names another)."""
DEFAULT_SECRET_ENV = "REELFORGE_WEBHOOK_SECRET"  # noqa: S105  # a variable name, not a secret
_MAX_CONFIG_BYTES = 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _NotionSection(_Strict):
    enabled: bool = True
    public_base_url: str | None = None
    data_source_id: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)


class _WebhookSection(_Strict):
    url: str
    secret_env: str = DEFAULT_SECRET_ENV

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_url(value)


class _JsonlSection(_Strict):
    path: Path


class _Sinks(_Strict):
    notion: _NotionSection | None = None
    webhooks: list[_WebhookSection] = Field(default_factory=list)
    jsonl: _JsonlSection | None = None


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # other tables belong to others

    sinks: _Sinks = Field(default_factory=_Sinks)


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """One endpoint and the environment variable holding its secret."""

    url: str
    secret_env: str = DEFAULT_SECRET_ENV

    def __repr__(self) -> str:  # the URL may carry a token in its query
        return f"WebhookTarget(url={redact_url(self.url)!r}, secret_env={self.secret_env!r})"


@dataclass(frozen=True, kw_only=True, slots=True)
class SinkPlan:
    """The sinks to run, resolved from the file and the flags (no secret in it)."""

    notion: NotionSettings | None = None
    webhooks: tuple[WebhookTarget, ...] = ()
    jsonl: Path | None = None

    def __bool__(self) -> bool:
        return self.notion is not None or bool(self.webhooks) or self.jsonl is not None

    def describe(self) -> str:
        """``notion, webhook https://hooks.example.com/x, jsonl events.jsonl``."""
        parts = ["notion"] if self.notion is not None else []
        parts += [f"webhook {redact_url(w.url)}" for w in self.webhooks]
        if self.jsonl is not None:
            parts.append(f"jsonl {self.jsonl}")
        return ", ".join(parts) or "none"


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The TOML file at ``path`` (``reelforge.toml`` when it exists, else empty).

    A named file that is missing, too large or not TOML is a :class:`ConfigError`."""
    if path is None:
        if not CONFIG_FILE.is_file():
            return {}
        path = CONFIG_FILE
    try:
        if path.stat().st_size > _MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than 1 MiB; is it the right file?")
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def resolve_sinks(
    config: Mapping[str, Any] | None = None,
    *,
    source: str = "reelforge.toml",
    notion: bool | None = None,
    webhooks: Sequence[str] = (),
    jsonl: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> SinkPlan:
    """Combine the file's ``[sinks]`` table with the flags into a :class:`SinkPlan`.

    ``notion`` True/False forces the Notion sink on or off (None: as the file says). Notion's
    token and database id come from the environment; a missing one is a :class:`ConfigError`
    naming the variables; so is a webhook whose secret is not in ``environ`` (default: the
    process's environment) or is not a ``whsec_`` secret."""
    try:
        parsed = _ConfigFile.model_validate(dict(config or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{source}: {where}: {first['msg']}") from None
    sinks = parsed.sinks
    notion_settings = None
    section = sinks.notion
    wanted = notion if notion is not None else (section is not None and section.enabled)
    if wanted:
        overrides: dict[str, Any] = {}
        if section is not None:
            overrides["property_names"] = section.properties
            if section.public_base_url:
                overrides["public_base_url"] = section.public_base_url
            if section.data_source_id:
                overrides["data_source_id"] = section.data_source_id
        try:
            notion_settings = NotionSettings(**overrides)
        except ValidationError as exc:
            raise ConfigError(f"{source}: sinks.notion: {exc.errors()[0]['msg']}") from None
        notion_settings.require()
    targets = [WebhookTarget(w.url, w.secret_env) for w in sinks.webhooks]
    for url in webhooks:
        try:
            targets.append(WebhookTarget(_check_url(url)))
        except ValueError as exc:
            raise ConfigError(f"--webhook: {exc}") from None
    path = jsonl if jsonl is not None else (sinks.jsonl.path if sinks.jsonl else None)
    plan = SinkPlan(notion=notion_settings, webhooks=tuple(targets), jsonl=path)
    for target in plan.webhooks:  # a missing or unusable secret stops the run before it starts
        signer(_secret(target, os.environ if environ is None else environ))
    return plan


def build_sinks(
    plan: SinkPlan,
    *,
    store: Store,
    environ: Mapping[str, str] | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> list[Sink]:
    """The sinks of ``plan``, ready to run (secrets read from ``environ`` now)."""
    env = os.environ if environ is None else environ
    sinks: list[Sink] = []
    if plan.notion is not None:
        from reelforge.sinks.notion._api import make_client  # noqa: PLC0415  # only when used
        from reelforge.sinks.notion.sink import NotionSink  # noqa: PLC0415

        sinks.append(
            NotionSink(
                make_client(plan.notion),
                plan.notion,
                store=store,
                rate=plan.notion.requests_per_second,
            )
        )
    for target in plan.webhooks:
        sinks.append(WebhookSink(target.url, _secret(target, env), client=http_client))
    if plan.jsonl is not None:
        sinks.append(JsonlSink(plan.jsonl))
    return sinks


def _secret(target: WebhookTarget, environ: Mapping[str, str]) -> str:
    secret = environ.get(target.secret_env, "").strip()
    if not secret:
        raise ConfigError(
            f"the webhook {redact_url(target.url)} needs its secret in {target.secret_env} "
            "(whsec_ followed by base64)"
        )
    return secret


def _check_url(value: str) -> str:
    url = value.strip()
    try:
        parts = httpx.URL(url)
    except httpx.InvalidURL:
        raise ValueError(f"{redact_url(url)} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.host:
        raise ValueError(f"{redact_url(url)} is not an http:// or https:// URL")
    return url
