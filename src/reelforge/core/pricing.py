"""The pricing table (data) and cost estimates.

Prices are dollars per second of video, per provider, model and *tier*. For the OpenAI
protocol a tier is a size (``720x1280``); for catalog models (fal, Replicate) it is a
resolution, with ``+audio`` for a clip with sound (``1080p+audio``), and may name a length
(``*:6s``). ``*`` stands for any size or resolution. A price may be ``"0.49/video"``: a flat
price per clip. The built-in table is ``pricing.toml`` (OpenAI) plus every model catalog's
prices (:mod:`reelforge.core.catalog`). Dated snapshots (``sora-2-2025-10-06``) are priced as
their base model. Unknown models have no price: :meth:`PriceTable.estimate` returns ``None``
rather than guessing.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path

from reelforge.core.catalog import catalog_prices, catalog_providers
from reelforge.core.errors import ConfigError
from reelforge.core.models import JobSpec

__all__ = ["PriceTable", "default_prices", "estimate_cost"]

_CENT = Decimal("0.0001")


class PriceTable:
    """Dollars per second, looked up by provider, model and size."""

    def __init__(self, prices: Mapping[str, Mapping[str, Mapping[str, float | str]]]) -> None:
        self._prices: dict[tuple[str, str, str], tuple[Decimal, bool]] = {}
        """(provider, model, tier) → (price, whether it is per clip rather than per second)."""
        for provider, models in prices.items():
            for model, sizes in models.items():
                for size, price in sizes.items():
                    self._prices[(provider, model, size)] = _price(provider, model, size, price)

    @classmethod
    def from_file(cls, path: Path) -> PriceTable:
        """Load a TOML file shaped like the built-in ``pricing.toml``."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read price file {path}: {exc}") from exc
        return cls(data)

    def per_second(self, provider: str, model: str, size: str) -> Decimal | None:
        """The price of one second at a size or tier, or ``None`` when the table has no
        per-second entry for it."""
        for name in _candidates(model):
            for key in ((provider, name, size), (provider, name, "*")):
                if key in self._prices:
                    price, per_clip = self._prices[key]
                    return None if per_clip else price
        return None

    def entries(self, provider: str, model: str) -> dict[str, tuple[Decimal, bool]]:
        """``model``'s price entries on ``provider``: tier → (dollars, whether per clip)."""
        return {
            tier: found
            for (their_provider, their_model, tier), found in self._prices.items()
            if their_provider == provider and their_model == model
        }

    def estimate(self, spec: JobSpec) -> Decimal | None:
        """Dollars for ``spec`` (validated: its resolution and audio filled in), or ``None``
        when its model is not priced."""
        for name in _candidates(spec.model):
            for tier in _tiers(spec):
                found = self._prices.get((spec.provider, name, tier))
                if found is not None:
                    price, per_clip = found
                    total = price if per_clip else price * spec.seconds
                    return total.quantize(_CENT)
        return None


def _price(provider: str, model: str, tier: str, raw: float | str) -> tuple[Decimal, bool]:
    text = str(raw).strip()
    per_clip = text.endswith("/video")
    try:
        value = Decimal(text.removesuffix("/video").strip())
    except ArithmeticError as exc:
        raise ConfigError(
            f"price for {provider}/{model}/{tier} is not a number (or 'N/video'): {raw!r}"
        ) from exc
    if not value.is_finite() or value < 0:
        raise ConfigError(f"price for {provider}/{model}/{tier} must be a number of dollars >= 0")
    return value, per_clip


def _tiers(spec: JobSpec) -> list[str]:
    """The table keys that may price ``spec``, most specific first."""
    if spec.resolution is None and spec.audio is None:
        return [spec.size, f"*:{spec.seconds}s", "*"]
    sound = "+audio" if spec.audio else ""
    tiers = []
    for base in (spec.resolution or "*", "*"):
        tiers += [f"{base}{sound}:{spec.seconds}s", f"{base}{sound}"]
    return list(dict.fromkeys(tiers))


def _candidates(model: str) -> list[str]:
    """``sora-2-pro-2025-10-06`` → [itself, ``sora-2-pro``]: snapshots cost what the base costs."""
    names = [model]
    parts = model.rsplit("-", 3)
    if len(parts) == 4 and all(p.isdigit() for p in parts[1:]):
        names.append(parts[0])
    return names


_DEFAULT: PriceTable | None = None


def default_prices() -> PriceTable:
    """The built-in table (loaded once)."""
    global _DEFAULT  # noqa: PLW0603  # a lazily loaded, read-only module cache
    if _DEFAULT is None:
        text = resources.files("reelforge.core").joinpath("pricing.toml").read_text("utf-8")
        table: dict[str, Mapping[str, Mapping[str, float | str]]] = tomllib.loads(text)
        for provider in catalog_providers():
            table[provider] = {**catalog_prices(provider), **table.get(provider, {})}
        _DEFAULT = PriceTable(table)
    return _DEFAULT


def estimate_cost(spec: JobSpec, prices: PriceTable | None = None) -> Decimal | None:
    """Dollars for ``spec`` with ``prices`` (the built-in table by default)."""
    return (prices or default_prices()).estimate(spec)
