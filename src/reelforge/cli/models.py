"""``reelforge models``: every model reelforge knows, what it accepts and what it costs."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from reelforge.cli._common import out_console, print_json, reelforge_errors
from reelforge.core.capabilities import ModelCapabilities, capabilities_for, known_models
from reelforge.core.pricing import default_prices
from reelforge.providers.registry import entry, known_providers

__all__ = ["models"]


def models(
    provider: Annotated[
        str | None,
        typer.Option(
            help="Only this provider's models (openai, fal, replicate, …).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the models as JSON.")] = False,
) -> None:
    """List the models each provider offers: lengths, aspect ratios, resolutions, audio, image
    inputs and price per second (estimates marked *).

    A model not listed can still be used on fal or Replicate by giving its inputs in
    ``params``; an OpenAI-protocol gateway's own model names pass through unchecked.
    """
    with reelforge_errors():
        providers = (entry(provider).name,) if provider is not None else known_providers()
        found = [caps for name in providers for caps in _models(name)]
    if as_json:
        print_json([_model_dict(caps) for caps in found])
        return
    table = Table(title="models")
    for column in ("provider", "model", "seconds", "shape", "audio", "image", "price"):
        table.add_column(column)
    for caps in found:
        table.add_row(
            escape(caps.provider),
            escape(caps.model) + (f"\n[dim]{escape(caps.title)}[/]" if caps.title else ""),
            _seconds(caps),
            _shape(caps),
            _audio(caps),
            _image(caps),
            _price_text(caps),
        )
    out_console.print(table)
    if any(caps.estimated_price for caps in found):
        out_console.print("* estimated: no primary source for this price (see models --json)")


def _models(provider: str) -> list[ModelCapabilities]:
    """``provider``'s models, one entry per model (dated aliases left out)."""
    listed = []
    for name in known_models(provider):
        caps = capabilities_for(name, provider)
        if caps.model == name:
            listed.append(caps)
    return listed


def _seconds(caps: ModelCapabilities) -> str:
    values = caps.seconds
    if len(values) > 3 and list(values) == list(range(values[0], values[-1] + 1)):
        text = f"{values[0]} to {values[-1]}"
    else:
        text = ", ".join(str(v) for v in values)
    return f"{text} (default {caps.default_seconds})"


def _shape(caps: ModelCapabilities) -> str:
    if caps.sizes:
        return ", ".join(caps.sizes)
    ratios = ", ".join(caps.aspect_ratios) if caps.aspect_ratios else "fixed"
    resolutions = ", ".join(caps.resolutions) if caps.resolutions else caps.default_resolution
    return f"{ratios}\n{resolutions}"


def _audio(caps: ModelCapabilities) -> str:
    if not caps.audio:
        return "-"
    return "on/off" if len(caps.audio) > 1 else ("on" if caps.audio[0] else "off")


def _image(caps: ModelCapabilities) -> str:
    parts = []
    if caps.image != "none" or caps.sizes:
        parts.append("first frame" + (" (required)" if caps.image == "required" else ""))
    if caps.end_image:
        parts.append("last frame")
    return ", ".join(parts) or "-"


def _prices(caps: ModelCapabilities) -> dict[str, str]:
    entries = default_prices().entries(caps.provider, caps.model)
    return {
        tier: f"{_dollars(price)}/video" if per_clip else _dollars(price)
        for tier, (price, per_clip) in sorted(entries.items())
    }


def _price_text(caps: ModelCapabilities) -> str:
    entries = default_prices().entries(caps.provider, caps.model)
    if not entries:
        return "-"
    per_second = sorted(price for price, per_clip in entries.values() if not per_clip)
    per_clip = sorted(price for price, clip in entries.values() if clip)
    parts = []
    if per_second:
        parts.append(f"{_range(per_second)}/s")
    if per_clip:
        parts.append(f"{_range(per_clip)}/clip")
    mark = " *" if caps.estimated_price else ""
    return " + ".join(parts) + mark


def _range(values: list[Decimal]) -> str:
    low, high = values[0], values[-1]
    return f"${_dollars(low)}" if low == high else f"${_dollars(low)} to {_dollars(high)}"


def _dollars(value: Decimal) -> str:
    """``0.1`` → ``0.10``, ``0.084`` → ``0.084``: cents, and more digits only when needed."""
    text = f"{value:.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"


def _model_dict(caps: ModelCapabilities) -> dict[str, object]:
    return {
        "provider": caps.provider,
        "model": caps.model,
        "title": caps.title or None,
        "family": caps.family or None,
        "seconds": list(caps.seconds),
        "default_seconds": caps.default_seconds,
        "sizes": list(caps.sizes),
        "aspect_ratios": list(caps.aspect_ratios),
        "default_aspect_ratio": caps.default_aspect_ratio,
        "resolutions": list(caps.resolutions),
        "default_resolution": caps.default_resolution,
        "audio": list(caps.audio),
        "default_audio": caps.default_audio,
        "image": caps.image if not caps.sizes else "optional",
        "end_image": caps.end_image,
        "seed": caps.seed,
        "negative_prompt": caps.negative_prompt,
        "image_variant": caps.image_variant,
        "prices_per_second": _prices(caps),
        "price_estimated": caps.estimated_price,
        "price_source": caps.price_source or None,
        "notes": caps.notes or None,
    }
