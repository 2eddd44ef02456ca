"""The simulator's configuration: pydantic models, loadable from a YAML or JSON file.

Times in the configuration are *simulated* seconds unless a field says "real seconds": the
simulator runs simulated time ``time_scale`` times faster than the clock it is given. Unknown keys
are rejected with an error that names them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reelforge.core.errors import ConfigError

__all__ = [
    "DEFAULT_TIME_SCALE",
    "ExtraModel",
    "FaultConfig",
    "RateLimitBurst",
    "ReplicateConfig",
    "RunwayConfig",
    "SimConfig",
    "VertexConfig",
    "WebhookConfig",
    "load_sim_config",
]

DEFAULT_TIME_SCALE = 40.0
"""Simulated seconds per real second by default: a 4 s sora-2 video takes about two real seconds."""

_FROZEN = ConfigDict(frozen=True, extra="forbid")

Rate = float


class _Model(BaseModel):
    model_config = _FROZEN


class RateLimitBurst(_Model):
    """A window of forced 429s that repeats: the last ``length`` real seconds of every ``every``."""

    every: float = Field(gt=0, description="Period of the burst cycle, in real seconds.")
    length: float = Field(gt=0, description="How long each burst lasts, in real seconds.")


class FaultConfig(_Model):
    """Failures to inject. Every ``*_rate`` is a probability from 0 to 1 drawn from the seed."""

    moderation_patterns: tuple[str, ...] = ()
    """Regular expressions (case-insensitive); a matching prompt fails ``moderation_blocked``."""
    moderation_rate: Rate = Field(default=1.0, ge=0, le=1)
    """Probability that a prompt matching ``moderation_patterns`` is blocked."""
    generation_failure_rate: Rate = Field(default=0.0, ge=0, le=1)
    """Probability that a job fails mid-generation with ``video_generation_failed``."""
    rate_limit_rate: Rate = Field(default=0.0, ge=0, le=1)
    """Probability that any ``/v1`` request is answered 429."""
    rate_limit_burst: RateLimitBurst | None = None
    """Periodic windows in which every ``/v1`` request is answered 429."""
    retry_after: float = Field(default=1.0, ge=0)
    """``Retry-After`` sent with injected 429s and 5xx, in real seconds."""
    max_in_flight: int | None = Field(default=None, ge=1)
    """Most queued + in-progress jobs one API key may have; beyond it creates get 429."""
    error_before_create_rate: Rate = Field(default=0.0, ge=0, le=1)
    """Probability that a create answers 5xx without creating the job."""
    error_after_create_rate: Rate = Field(default=0.0, ge=0, le=1)
    """Probability that a create makes the job and still answers 5xx (the ambiguous case)."""
    server_error_rate: Rate = Field(default=0.0, ge=0, le=1)
    """Probability that any other ``/v1`` request (GET, DELETE) answers 5xx."""
    server_error_status: int = Field(default=500, ge=500, le=599)
    """Status code of injected server errors."""
    slow_rate: Rate = Field(default=0.0, ge=0, le=1)
    """Probability that a ``/v1`` request is delayed by ``slow_seconds``."""
    slow_seconds: float = Field(default=0.5, ge=0)
    """Delay of a slow response, in real seconds."""
    create_delay: float = Field(default=0.0, ge=0)
    """Real seconds a create takes before the job is made and answered (a slow gateway). The
    job is made even if the client gave up or died meanwhile, as a real server would."""
    drop_download_rate: Rate = Field(default=0.0, ge=0, le=1)
    """Probability that a content download is cut off part-way."""
    drop_download_first: int = Field(default=0, ge=0)
    """Cut off the first N downloads of every asset (deterministic, for resume tests)."""
    drop_after_fraction: float = Field(default=0.5, gt=0, lt=1)
    """Share of the requested bytes sent before a download is cut off."""
    large_asset_bytes: int | None = Field(default=None, ge=1)
    """Serve the ``video`` variant as this many bytes: the rendered MP4 followed by a ``free`` box
    of deterministic pseudo-random data (still a valid MP4)."""

    @field_validator("moderation_patterns")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return value


class ExtraModel(_Model):
    """A model the simulator accepts beyond the capability table (e.g. a gateway's ``veo-3.1``)."""

    seconds: tuple[int, ...] = (4, 8, 12)
    sizes: tuple[str, ...] = ("720x1280", "1280x720")
    speed: float = Field(default=1.0, gt=0)
    """Generation time multiplier (2.0 = twice as slow as sora-2)."""


class WebhookConfig(_Model):
    """Where to send ``video.completed`` / ``video.failed`` events, and how to sign them."""

    urls: tuple[str, ...] = ()
    secret: str = Field(min_length=1)
    """A Standard Webhooks secret, ``whsec_`` + base64."""
    interval: float = Field(default=0.2, gt=0)
    """How often the background task looks for finished jobs, in real seconds."""
    max_attempts: int = Field(default=5, ge=1)
    timeout: float = Field(default=10.0, gt=0)


class ReplicateConfig(_Model):
    """The Replicate predictions protocol (``/v1/predictions``, ``/v1/models/…/predictions``)."""

    data_retention: float = Field(default=3600.0, gt=0)
    """Simulated seconds from a prediction's completion until its input, output, logs and file
    are removed (``data_removed: true``), as Replicate does for API predictions after an hour."""
    page_size: int = Field(default=100, ge=1)
    """Predictions per page of ``GET /v1/predictions``."""
    webhook_interval: float = Field(default=0.2, gt=0)
    """How often webhook events are looked for, in real seconds."""
    webhook_max_attempts: int = Field(default=4, ge=1)
    """Deliveries of one webhook event before giving up (the first one included)."""
    webhook_timeout: float = Field(default=10.0, gt=0)
    """Real seconds one webhook delivery may take."""


class RunwayConfig(_Model):
    """The Runway tasks protocol (``/v1/text_to_video``, ``/v1/image_to_video``, ``/v1/tasks``)."""

    concurrency: int = Field(default=2, ge=1)
    """Tasks one API key may have running at once; more wait ``THROTTLED`` until a slot frees
    (Runway's tier 1 allows one or two)."""
    output_url_ttl: float = Field(default=86400.0, gt=0)
    """Simulated seconds an output URL's ``_jwt`` stays valid from the ``GET`` that minted it
    (Runway: "within 24-48 hours")."""


class VertexConfig(_Model):
    """Vertex AI's Veo protocol and its OAuth2 token endpoint (``POST /token``)."""

    token_lifetime: int = Field(default=3600, ge=1)
    """Real seconds an access token from ``/token`` is valid (``expires_in``)."""
    token_valid_for: float | None = Field(default=None, gt=0)
    """Real seconds a token is actually accepted, when shorter than it claims (a revoked
    token, a clock skew): requests with it then get 401 before the client expects. Default:
    ``token_lifetime``."""
    service_accounts: dict[str, str] = Field(default_factory=dict)
    """Service accounts the token endpoint trusts besides the simulator's own: the account's
    email (the JWT's ``iss``) -> its RSA public key or X.509 certificate, in PEM."""


class SimConfig(_Model):
    """Everything the simulator can be told. Build it directly or with :func:`load_sim_config`."""

    time_scale: float = Field(default=DEFAULT_TIME_SCALE, gt=0)
    """Simulated seconds per real second (1 = realistic: minutes per video)."""
    seed: int = 0
    """Seeds ids, durations, jitter, faults and media."""
    faults: FaultConfig = FaultConfig()
    extra_models: dict[str, ExtraModel] = Field(default_factory=dict)
    webhooks: WebhookConfig | None = None
    replicate: ReplicateConfig = ReplicateConfig()
    vertex: VertexConfig = VertexConfig()
    runway: RunwayConfig = RunwayConfig()

    queue_seconds: float = Field(default=6.0, ge=0)
    """Simulated time a job waits in ``queued`` before generation starts."""
    base_generation_seconds: float = Field(default=30.0, ge=0)
    """Simulated generation time of any sora-2 job, before the per-second part."""
    generation_seconds_per_video_second: float = Field(default=12.0, ge=0)
    """Extra simulated generation time per second of video."""
    pro_slowdown: float = Field(default=2.0, gt=0)
    """How many times slower sora-2-pro generates than sora-2."""
    jitter: float = Field(default=0.15, ge=0, lt=1)
    """Relative, seeded random spread of every duration (0.15 = ±15%)."""
    expires_after: float = Field(default=3600.0, gt=0)
    """Simulated seconds from completion until the assets expire."""

    poll_after_hint: bool = True
    """Send ``openai-poll-after-ms`` on video responses of unfinished jobs."""
    poll_after_min_ms: int = Field(default=200, ge=0)
    poll_after_max_ms: int = Field(default=30_000, ge=0)

    requests_per_minute: int = Field(default=10_000, ge=1)
    """Per-key request limit reported in ``x-ratelimit-*`` headers and enforced with 429."""
    unknown_model_status: int = Field(default=400)
    """Status for an unknown model: 400 (``model_not_found``) or 404."""
    isolate_keys: bool = True
    """Each API key is its own project: it sees and lists only its own videos."""

    media_scale: float = Field(default=0.5, gt=0, le=1)
    """Rendered resolution relative to the requested size (aspect ratio is kept)."""
    fps: int = Field(default=6, ge=1, le=60)
    cache_dir: Path | None = None
    """Where rendered media is kept; a private temporary directory when unset."""

    @field_validator("unknown_model_status")
    @classmethod
    def _model_status(cls, value: int) -> int:
        if value not in (400, 404):
            raise ValueError("must be 400 or 404")
        return value

    def with_overrides(self, **values: Any) -> SimConfig:
        """A copy with every non-``None`` value replaced (CLI flags override file values)."""
        data = self.model_dump()
        data.update({key: value for key, value in values.items() if value is not None})
        return _validate(data, source="overrides")


def _validate(data: object, *, source: str) -> SimConfig:
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            if error["type"] == "extra_forbidden":
                problems.append(f"unknown key {where!r}")
            else:
                problems.append(f"{where}: {error['msg']}")
        raise ConfigError(f"invalid simulator config in {source}: " + "; ".join(problems)) from exc


def load_sim_config(path: Path | str) -> SimConfig:
    """Read a YAML or JSON simulator config file; raise :class:`ConfigError` naming bad keys."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read simulator config {file}: {exc}") from exc
    try:
        if file.suffix.lower() == ".json":
            data: object = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"simulator config {file} is not valid YAML or JSON: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"simulator config {file} must be a mapping at the top level")
    return _validate(data, source=str(file))
