"""What each known model accepts, keyed by (provider, model), and validation of a
:class:`JobSpec` against it.

Each provider registers its model table (:func:`register_models`); the ``openai`` table (Sora 2)
is here as data. Models a provider's table does not know (gateway aliases such as
``my-video-model`` behind an OpenAI-compatible base URL) pass through: only the server validates
them, so only structural checks apply here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reelforge.core.errors import InvalidSpecError
from reelforge.core.models import JobSpec, Variant
from reelforge.core.prompt_text import check_prompt_characters

__all__ = [
    "ASPECT_RATIOS",
    "MAX_PROMPT_CHARS",
    "ModelCapabilities",
    "capabilities_for",
    "known_models",
    "register_models",
    "resolve_size",
    "validate_spec",
]

MAX_PROMPT_CHARS = 32_000

_PORTRAIT, _LANDSCAPE = "720x1280", "1280x720"
_PRO_PORTRAIT, _PRO_LANDSCAPE = "1024x1792", "1792x1024"

ASPECT_RATIOS: dict[str, str] = {"9:16": _PORTRAIT, "16:9": _LANDSCAPE}
"""Aspect ratios accepted on input, mapped to the size every known model has."""

_SIZE_RE = re.compile(r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelCapabilities:
    """What one model accepts. ``known`` is False for pass-through gateway models."""

    model: str
    seconds: tuple[int, ...]
    sizes: tuple[str, ...]
    max_prompt_chars: int = MAX_PROMPT_CHARS
    variants: tuple[Variant, ...] = tuple(Variant)
    known: bool = True
    can_list: bool = True
    sends_webhooks: bool = True
    default_seconds: int = 4
    default_size: str = _PORTRAIT
    typical_render: tuple[float, float] | None = None
    """How long a job typically takes from creation to completion: a fixed part and a part per
    second of video, in seconds. It aims the first status check when the server sends no poll
    hint (gateways drop it); ``None`` when unknown."""
    provider: str = "openai"
    title: str = ""
    """A human name (``Veo 3.1 Fast``)."""
    family: str = ""
    """The model family, the same on every provider (``Veo 3.1``): for comparisons."""
    image_variant: str | None = None
    """The sibling model that takes a first-frame image, when this one takes none."""
    aspect_ratios: tuple[str, ...] = ()
    """Accepted ``aspect_ratio`` values (models named by ratio and resolution, not ``WxH``)."""
    default_aspect_ratio: str | None = None
    resolutions: tuple[str, ...] = ()
    default_resolution: str | None = None
    audio: tuple[bool, ...] = ()
    """Accepted ``audio`` settings; empty when the model has no audio switch."""
    default_audio: bool | None = None
    image: str = "none"
    """A first-frame ``image``: ``none``, ``optional`` or ``required``."""
    end_image: bool = False
    seed: bool = False
    negative_prompt: bool = False
    wire: tuple[tuple[str, str], ...] = ()
    """How each neutral field goes on the wire: ``(field, "name")`` or ``(field, "name:form")``
    where form is ``int``, ``str`` (digits as text) or ``s`` (``"8s"``); see
    :mod:`reelforge.core.catalog`."""
    estimated_price: bool = False
    """The price is an estimate (no primary source)."""
    price_source: str = ""
    notes: str = ""

    @property
    def neutral(self) -> bool:
        """Named by aspect ratio and resolution (a catalog model), not by ``WxH`` size."""
        return self.known and not self.sizes

    def wire_name(self, field: str) -> tuple[str, str] | None:
        """The wire name and form of a neutral field (``seconds`` → ``("duration", "s")``),
        or ``None`` when the model does not take it."""
        for name, target in self.wire:
            if name == field:
                wire, _, form = target.partition(":")
                return wire, form
        return None

    def typical_duration(self, seconds: int) -> float | None:
        """The typical creation-to-completion time of a ``seconds``-long clip, if known."""
        if self.typical_render is None:
            return None
        fixed, per_second = self.typical_render
        return fixed + per_second * seconds


_SORA_2 = ModelCapabilities(
    model="sora-2",
    seconds=(4, 8, 12),
    sizes=(_PORTRAIT, _LANDSCAPE),
    typical_render=(36.0, 12.0),
)
_SORA_2_PRO = ModelCapabilities(
    model="sora-2-pro",
    seconds=(4, 8, 12),
    sizes=(_PORTRAIT, _LANDSCAPE, _PRO_PORTRAIT, _PRO_LANDSCAPE),
    typical_render=(72.0, 24.0),
)

_TABLE: dict[str, ModelCapabilities] = {
    "sora-2": _SORA_2,
    "sora-2-2025-10-06": _SORA_2,
    "sora-2-2025-12-08": _SORA_2,
    "sora-2-pro": _SORA_2_PRO,
    "sora-2-pro-2025-10-06": _SORA_2_PRO,
}


_PRO_NAMES = frozenset(name for name, caps in _TABLE.items() if caps is _SORA_2_PRO)

_TABLES: dict[str, dict[str, ModelCapabilities]] = {"openai": _TABLE}


def register_models(provider: str, table: dict[str, ModelCapabilities]) -> None:
    """Make ``table`` the models of ``provider`` (replacing any it had)."""
    _TABLES[provider] = dict(table)


def _table(provider: str) -> dict[str, ModelCapabilities]:
    """``provider``'s models: registered, or loaded from its catalog file on first use."""
    table = _TABLES.get(provider)
    if table is None:
        from reelforge.core.catalog import load_catalog  # noqa: PLC0415  # the catalog imports us

        table = _TABLES.setdefault(provider, load_catalog(provider))
    return table


def known_models(provider: str = "openai") -> tuple[str, ...]:
    """Every model name in ``provider``'s capability table, snapshots included."""
    return tuple(_table(provider))


def capabilities_for(model: str, provider: str = "openai") -> ModelCapabilities:
    """The capabilities of ``model`` on ``provider``; a permissive, ``known=False`` entry for
    models the provider's table does not know."""
    caps = _table(provider).get(model)
    if caps is not None:
        return caps
    return ModelCapabilities(model=model, provider=provider, seconds=(), sizes=(), known=False)


def resolve_size(model: str, size: str, provider: str = "openai") -> str:
    """Map an aspect ratio (``16:9``, ``9:16``) to the model's size; pass ``WxH`` through.

    Raises :class:`InvalidSpecError` for an aspect ratio no model offers (``1:1``) or a value
    that is neither.
    """
    value = size.strip().lower()
    if value in ASPECT_RATIOS:
        return ASPECT_RATIOS[value]
    if _SIZE_RE.match(value):
        return value
    caps = capabilities_for(model, provider)
    allowed = [*ASPECT_RATIOS, *caps.sizes] if caps.known else [*ASPECT_RATIOS, "WIDTHxHEIGHT"]
    raise InvalidSpecError(
        f"size {size!r} is not supported by {model}; allowed: {', '.join(allowed)}",
        field="size",
        value=size,
        allowed=allowed,
    )


def validate_spec(spec: JobSpec) -> JobSpec:
    """Check ``spec`` against its model's capabilities; return it with its defaults filled in
    (size resolved; for catalog models the aspect ratio, resolution and audio, and the size
    they give).

    Raises :class:`InvalidSpecError` naming the field and the allowed values. Nothing is sent.
    """
    caps = capabilities_for(spec.model, spec.provider)
    _check_prompt(spec, caps)
    if caps.neutral:
        return _validate_neutral(spec, caps)
    if not caps.known and _has_catalog(spec.provider):
        return _validate_uncatalogued(spec)
    spec = _openai_neutral(spec, caps)
    size = resolve_size(spec.model, spec.size, spec.provider)
    if caps.known:
        if spec.seconds not in caps.seconds:
            allowed = ", ".join(str(s) for s in caps.seconds)
            raise InvalidSpecError(
                f"seconds {spec.seconds} is not supported by {spec.model}; allowed: {allowed}",
                field="seconds",
                value=spec.seconds,
                allowed=caps.seconds,
            )
        if size not in caps.sizes:
            hint = ""
            if size in _SORA_2_PRO.sizes and spec.model not in _PRO_NAMES:
                hint = f" ({size} needs sora-2-pro)"
            raise InvalidSpecError(
                f"size {size} is not supported by {spec.model}; "
                f"allowed: {', '.join(caps.sizes)}{hint}",
                field="size",
                value=size,
                allowed=caps.sizes,
            )
    elif spec.seconds <= 0:
        raise InvalidSpecError(
            f"seconds must be a positive whole number, got {spec.seconds}",
            field="seconds",
            value=spec.seconds,
        )
    if spec.input_reference is not None and not spec.input_reference.is_file():
        raise InvalidSpecError(
            f"input reference {spec.input_reference} does not exist or is not a file",
            field="input_reference",
            value=str(spec.input_reference),
        )
    return spec if size == spec.size else replace(spec, size=size)


def _check_prompt(spec: JobSpec, caps: ModelCapabilities) -> None:
    if not spec.prompt.strip():
        raise InvalidSpecError("prompt is empty", field="prompt", value=spec.prompt)
    if len(spec.prompt) > caps.max_prompt_chars:
        raise InvalidSpecError(
            f"prompt is {len(spec.prompt)} characters; at most {caps.max_prompt_chars} allowed",
            field="prompt",
            value=len(spec.prompt),
        )
    check_prompt_characters(spec.prompt)


def _has_catalog(provider: str) -> bool:
    return any(caps.neutral for caps in _table(provider).values())


_OPENAI_TAKES_NOT = ("resolution", "audio", "end_image", "negative_prompt", "seed")


def _openai_neutral(spec: JobSpec, caps: ModelCapabilities) -> JobSpec:
    """An OpenAI-protocol spec's neutral fields: ``aspect_ratio`` picks the size, a local
    ``image`` is the ``input_reference``; the protocol has no field for the others."""
    for name in _OPENAI_TAKES_NOT:
        if getattr(spec, name) is not None:
            raise InvalidSpecError(
                f"{name} is not taken by {spec.model} (the OpenAI Videos protocol has no such "
                "field); allowed fields: prompt, seconds, size or aspect_ratio, input_reference "
                "or image",
                field=name,
                value=getattr(spec, name),
                allowed=("prompt", "seconds", "size", "aspect_ratio", "input_reference", "image"),
            )
    if spec.params:
        raise InvalidSpecError(
            f"params is not taken by {spec.model}: the OpenAI Videos protocol sends only its own "
            "fields",
            field="params",
            value=dict(spec.params),
        )
    changes: dict[str, Any] = {}
    if spec.aspect_ratio is not None:
        changes["size"] = spec.aspect_ratio
        changes["aspect_ratio"] = None
    if spec.image is not None:
        if _is_url(spec.image):
            raise InvalidSpecError(
                f"image {spec.image[:60]!r} is a URL; {spec.model} takes a local file as its "
                "input_reference",
                field="image",
                value=spec.image,
            )
        if spec.input_reference is not None and Path(spec.image) != spec.input_reference:
            raise InvalidSpecError(
                "image and input_reference name different files; give one",
                field="image",
                value=spec.image,
            )
        changes["input_reference"] = Path(spec.image)
        changes["image"] = None
    return replace(spec, **changes) if changes else spec


def _validate_uncatalogued(spec: JobSpec) -> JobSpec:
    """A model the provider's catalog does not list: sent as ``params`` say, and only then."""
    known = known_models(spec.provider)
    if not spec.params:
        raise InvalidSpecError(
            f"model {spec.model!r} is not in the {spec.provider} catalog; give its inputs in "
            f"params (sent as they are), or use one of: {', '.join(known)}",
            field="model",
            value=spec.model,
            allowed=known,
        )
    given = spec.neutral
    if given:
        names = ", ".join(given)
        raise InvalidSpecError(
            f"{names} cannot be mapped for {spec.model!r}, which is not in the {spec.provider} "
            "catalog: put every input in params as the model names it",
            field=next(iter(given)),
            value=next(iter(given.values())),
        )
    _check_seconds(spec, capabilities_for(spec.model, spec.provider))
    return spec


def _check_seconds(spec: JobSpec, caps: ModelCapabilities) -> None:
    if caps.known and spec.seconds not in caps.seconds:
        allowed = ", ".join(str(s) for s in caps.seconds)
        raise InvalidSpecError(
            f"seconds {spec.seconds} is not supported by {spec.model}; allowed: {allowed}",
            field="seconds",
            value=spec.seconds,
            allowed=caps.seconds,
        )
    if spec.seconds <= 0:
        raise InvalidSpecError(
            f"seconds must be a positive whole number, got {spec.seconds}",
            field="seconds",
            value=spec.seconds,
        )


def _choice(spec: JobSpec, name: str, allowed: tuple[Any, ...], default: Any) -> Any:
    """The value of ``name``: given and allowed, or the default; an error naming the allowed
    values otherwise."""
    value = getattr(spec, name)
    if value is None:
        return default
    if allowed and value in allowed and type(value) is type(allowed[0]):
        return value
    if not allowed:
        fixed = f" (fixed: {default})" if default is not None else ""
        if value == default:
            return value
        raise InvalidSpecError(
            f"{name} is not taken by {spec.model}{fixed}",
            field=name,
            value=value,
            allowed=(default,) if default is not None else (),
        )
    shown = ", ".join(_show(a) for a in allowed)
    raise InvalidSpecError(
        f"{name} {_show(value)} is not supported by {spec.model}; allowed: {shown}",
        field=name,
        value=value,
        allowed=allowed,
    )


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _validate_neutral(spec: JobSpec, caps: ModelCapabilities) -> JobSpec:
    """A catalog model: every neutral field checked, defaults filled in, size derived."""
    from reelforge.core.catalog import dimensions  # noqa: PLC0415  # the catalog imports us

    if spec.input_reference is not None:
        raise InvalidSpecError(
            f"input_reference is the OpenAI protocol's field; {spec.model} takes image",
            field="input_reference",
            value=str(spec.input_reference),
            allowed=("image",),
        )
    _check_seconds(spec, caps)
    aspect = _choice(spec, "aspect_ratio", caps.aspect_ratios, caps.default_aspect_ratio)
    resolution = _choice(spec, "resolution", caps.resolutions, caps.default_resolution)
    audio = _choice(spec, "audio", caps.audio, caps.default_audio)
    _check_images(spec, caps)
    for name in ("seed", "negative_prompt"):
        if getattr(spec, name) is not None and not getattr(caps, name):
            raise InvalidSpecError(
                f"{name} is not taken by {spec.model}",
                field=name,
                value=getattr(spec, name),
                allowed=(),
            )
    return replace(
        spec,
        aspect_ratio=aspect,
        resolution=resolution,
        audio=audio,
        size=dimensions(aspect, resolution),
    )


def _check_images(spec: JobSpec, caps: ModelCapabilities) -> None:
    if spec.image is None and caps.image == "required":
        raise InvalidSpecError(
            f"{spec.model} needs an image (the first frame): set image to a URL or a file",
            field="image",
            value=None,
        )
    if spec.image is not None and caps.image == "none":
        hint = f"; {caps.image_variant} takes one" if caps.image_variant else ""
        raise InvalidSpecError(
            f"image is not taken by {spec.model} (a text-to-video model){hint}",
            field="image",
            value=spec.image,
            allowed=(caps.image_variant,) if caps.image_variant else (),
        )
    if spec.end_image is not None and not caps.end_image:
        raise InvalidSpecError(
            f"end_image is not taken by {spec.model}",
            field="end_image",
            value=spec.end_image,
            allowed=(),
        )
    for name in ("image", "end_image"):
        value = getattr(spec, name)
        if value is not None and not _is_url(value) and not Path(value).is_file():
            raise InvalidSpecError(
                f"{name} {value!r} is neither an http(s) or data: URL nor an existing file",
                field=name,
                value=value,
            )


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://", "data:"))
