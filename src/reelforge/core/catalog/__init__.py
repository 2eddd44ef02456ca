"""The model catalog: each provider's video models as data (``<provider>.toml`` here).

A catalog model is named by the provider's own id (a fal endpoint id, a Replicate
``owner/name``) and says what it accepts, its defaults, how each provider-neutral field of a
:class:`~reelforge.core.models.JobSpec` goes on the wire, and what it costs. The files are
checked strictly when loaded: a typo in a field name is an error, not a silently ignored
setting.

Wire forms: a field is sent under its wire ``name`` as the value the spec holds, or converted
by its form — ``int`` (``8``), ``str`` (``"8"``) or ``s`` (``"8s"``); ``wh`` (aspect ratio
only) sends the clip's pixel ratio ``"W:H"`` from the aspect ratio and resolution together
(``16:9`` at 720p → ``"1280:720"``, Runway's ``ratio``).
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reelforge.core.capabilities import ModelCapabilities
from reelforge.core.errors import ConfigError

__all__ = [
    "RESOLUTION_HEIGHTS",
    "WireProblem",
    "catalog_prices",
    "catalog_providers",
    "dimensions",
    "load_catalog",
    "pixel_ratio",
    "pixel_ratios",
    "wire_problems",
    "wire_value",
]

RESOLUTION_HEIGHTS: dict[str, int] = {
    "360p": 360,
    "480p": 480,
    "540p": 540,
    "720p": 720,
    "768p": 768,
    "1080p": 1080,
    "4k": 2160,
}
"""The short side of each resolution name, in pixels."""

_FORMS = ("", "int", "str", "s", "wh")
_NEUTRAL = (
    "seconds",
    "aspect_ratio",
    "resolution",
    "audio",
    "image",
    "end_image",
    "seed",
    "negative_prompt",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    title: str
    family: str
    seconds: list[int] = Field(min_length=1)
    default_seconds: int
    aspect_ratios: list[str] = []
    default_aspect_ratio: str | None = None
    resolutions: list[str] = []
    default_resolution: str | None = None
    fixed_resolution: str | None = None
    audio: list[bool] = []
    default_audio: bool | None = None
    image: Literal["none", "optional", "required"] = "none"
    end_image: bool = False
    seed: bool = False
    negative_prompt: bool = False
    typical_render: list[float] | None = Field(default=None, min_length=2, max_length=2)
    image_variant: str | None = None
    wire: dict[str, str]
    price: dict[str, float | str]
    estimated: bool = False
    price_source: str
    notes: str = ""


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    can_list: bool
    """Whether the provider lists an account's jobs (reconciliation needs it)."""
    sends_webhooks: bool
    models: dict[str, _Model]


@functools.cache
def catalog_providers() -> tuple[str, ...]:
    """The providers that have a catalog file, sorted."""
    here = resources.files(__name__)
    return tuple(
        sorted(
            entry.name.removesuffix(".toml")
            for entry in here.iterdir()
            if entry.name.endswith(".toml")
        )
    )


@functools.cache
def _read(provider: str) -> _File:
    source = resources.files(__name__).joinpath(f"{provider}.toml")
    try:
        data = tomllib.loads(source.read_text("utf-8"))
        parsed = _File.model_validate(data)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the {provider} model catalog: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"the {provider} model catalog is invalid: {exc}") from exc
    for name, model in parsed.models.items():
        problem = _problem(model)
        if problem is not None:
            raise ConfigError(f"the {provider} model catalog is invalid: {name}: {problem}")
    return parsed


def _problem(model: _Model) -> str | None:
    checks: list[tuple[bool, str]] = [
        (model.default_seconds in model.seconds, "default_seconds is not one of seconds"),
        (
            not model.aspect_ratios or model.default_aspect_ratio in model.aspect_ratios,
            "default_aspect_ratio is not one of aspect_ratios",
        ),
        (
            not model.resolutions or model.default_resolution in model.resolutions,
            "default_resolution is not one of resolutions",
        ),
        (
            not model.audio or model.default_audio in model.audio,
            "default_audio is not one of audio",
        ),
        (
            not (model.resolutions and model.fixed_resolution),
            "a model has resolutions or a fixed_resolution, not both",
        ),
    ]
    for field, target in model.wire.items():
        _, _, form = target.partition(":")
        checks.append((field in _NEUTRAL, f"wire names an unknown field {field!r}"))
        checks.append((form in _FORMS, f"wire form {form!r} is not one of int, str, s, wh"))
        checks.append((form != "wh" or field == "aspect_ratio", "only aspect_ratio takes form wh"))
    for resolution in [*model.resolutions, model.fixed_resolution or "720p"]:
        checks.append((resolution in RESOLUTION_HEIGHTS, f"unknown resolution {resolution!r}"))
    for ok, message in checks:
        if not ok:
            return message
    return None


@functools.cache
def load_catalog(provider: str) -> dict[str, ModelCapabilities]:
    """The models of ``provider``'s catalog, by id (empty when it has none)."""
    if provider not in catalog_providers():
        return {}
    read = _read(provider)
    return {name: _capabilities(provider, name, model, read) for name, model in read.models.items()}


def catalog_prices(provider: str) -> dict[str, dict[str, float | str]]:
    """The price entries of ``provider``'s catalog, by model (the layout of ``pricing.toml``)."""
    if provider not in catalog_providers():
        return {}
    return {name: dict(model.price) for name, model in _read(provider).models.items()}


def _capabilities(provider: str, name: str, model: _Model, read: _File) -> ModelCapabilities:
    return ModelCapabilities(
        model=name,
        provider=provider,
        title=model.title,
        family=model.family,
        seconds=tuple(model.seconds),
        sizes=(),
        default_seconds=model.default_seconds,
        default_size="",
        aspect_ratios=tuple(model.aspect_ratios),
        default_aspect_ratio=model.default_aspect_ratio,
        resolutions=tuple(model.resolutions),
        default_resolution=model.default_resolution or model.fixed_resolution,
        audio=tuple(model.audio),
        default_audio=model.default_audio,
        image=model.image,
        end_image=model.end_image,
        seed=model.seed,
        negative_prompt=model.negative_prompt,
        typical_render=(
            (model.typical_render[0], model.typical_render[1]) if model.typical_render else None
        ),
        image_variant=model.image_variant,
        wire=tuple(sorted(model.wire.items())),
        estimated_price=model.estimated,
        price_source=model.price_source,
        notes=model.notes,
        can_list=read.can_list,
        sends_webhooks=read.sends_webhooks,
    )


def dimensions(aspect_ratio: str | None, resolution: str | None) -> str:
    """``WxH`` of a clip at ``aspect_ratio`` (``16:9``) and ``resolution`` (``720p``): the
    resolution names the short side. ``auto`` or no ratio counts as 16:9; widths are even."""
    height = RESOLUTION_HEIGHTS.get(resolution or "720p", 720)
    ratio = aspect_ratio if aspect_ratio and aspect_ratio != "auto" else "16:9"
    across, _, down = ratio.partition(":")
    try:
        w, h = int(across), int(down)
    except ValueError:
        w, h = 16, 9
    if w >= h:
        long_side = round(height * w / h / 2) * 2
        return f"{long_side}x{height}"
    long_side = round(height * h / w / 2) * 2
    return f"{height}x{long_side}"


def pixel_ratio(aspect_ratio: str | None, resolution: str | None) -> str:
    """The ``"W:H"`` pixel ratio of a clip (form ``wh``): ``16:9`` at 720p → ``"1280:720"``."""
    return dimensions(aspect_ratio, resolution).replace("x", ":")


def pixel_ratios(caps: ModelCapabilities) -> tuple[str, ...]:
    """Every ``"W:H"`` a model takes: its aspect ratios at each of its resolutions."""
    resolutions = caps.resolutions or (caps.default_resolution,)
    return tuple(
        pixel_ratio(aspect, resolution)
        for aspect in caps.aspect_ratios
        for resolution in resolutions
    )


def wire_value(form: str, value: Any) -> Any:
    """A neutral value in a wire form (``s``: ``8`` → ``"8s"``)."""
    if form == "int":
        return int(value)
    if form == "str":
        return str(value)
    if form == "s":
        return f"{value}s"
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class WireProblem:
    """One thing wrong with a model input as the provider would see it."""

    field: str
    """The wire field name."""
    message: str
    allowed: tuple[Any, ...] | None = None
    kind: str = "value_error"
    """``missing``, ``type_error`` or ``value_error`` (a server words its error from it)."""


def wire_problems(caps: ModelCapabilities, body: object) -> list[WireProblem]:
    """What a server of ``caps``'s model would refuse in the input ``body`` (a JSON object):
    a missing or empty prompt, a value of the wrong type or not allowed, a missing required
    image. Fields the model does not know are ignored, as the real endpoints do."""
    if not isinstance(body, dict):
        return [WireProblem(field="body", message="the input must be a JSON object")]
    problems: list[WireProblem] = []
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        kind = "missing" if prompt is None else "value_error"
        problems.append(WireProblem(field="prompt", message="field required", kind=kind))
    choices: dict[str, tuple[Any, ...]] = {
        "seconds": tuple(caps.seconds),
        "aspect_ratio": caps.aspect_ratios,
        "resolution": caps.resolutions,
        "audio": caps.audio or (True, False),
    }
    for field, target in caps.wire:
        name, _, form = target.partition(":")
        if name not in body:
            if field == "image" and caps.image == "required":
                problems.append(WireProblem(field=name, message="field required", kind="missing"))
            continue
        value = body[name]
        if field in choices:
            allowed = (
                pixel_ratios(caps)
                if form == "wh"
                else tuple(wire_value(form, v) for v in choices[field])
            )
            if value not in allowed or type(value) is not type(allowed[0]):
                problems.append(
                    WireProblem(
                        field=name,
                        message=f"must be one of {', '.join(map(repr, allowed))}",
                        allowed=allowed,
                    )
                )
        elif field in ("image", "end_image", "negative_prompt") and not isinstance(value, str):
            problems.append(WireProblem(field=name, message="must be a string", kind="type_error"))
        elif field == "seed" and (not isinstance(value, int) or isinstance(value, bool)):
            problems.append(
                WireProblem(field=name, message="must be an integer", kind="type_error")
            )
    return problems
