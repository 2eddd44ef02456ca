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


def known_models(provider: str = "openai") -> tuple[str, ...]:
    """Every model name in ``provider``'s capability table, snapshots included."""
    return tuple(_TABLES.get(provider, {}))


def capabilities_for(model: str, provider: str = "openai") -> ModelCapabilities:
    """The capabilities of ``model`` on ``provider``; a permissive, ``known=False`` entry for
    models the provider's table does not know."""
    caps = _TABLES.get(provider, {}).get(model)
    if caps is not None:
        return caps
    return ModelCapabilities(model=model, seconds=(), sizes=(), known=False)


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
    """Check ``spec`` against its model's capabilities; return it with its size resolved.

    Raises :class:`InvalidSpecError` naming the field and the allowed values. Nothing is sent.
    """
    caps = capabilities_for(spec.model, spec.provider)
    if not spec.prompt.strip():
        raise InvalidSpecError("prompt is empty", field="prompt", value=spec.prompt)
    if len(spec.prompt) > caps.max_prompt_chars:
        raise InvalidSpecError(
            f"prompt is {len(spec.prompt)} characters; at most {caps.max_prompt_chars} allowed",
            field="prompt",
            value=len(spec.prompt),
        )
    check_prompt_characters(spec.prompt)
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
