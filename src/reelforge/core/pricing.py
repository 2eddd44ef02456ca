"""The pricing table (data, in ``pricing.toml``) and cost estimates.

Prices are dollars per second of video, per provider, model and size. Dated snapshots
(``sora-2-2025-10-06``) are priced as their base model. Unknown models have no price:
:meth:`PriceTable.estimate` returns ``None`` rather than guessing.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path

from reelforge.core.errors import ConfigError
from reelforge.core.models import JobSpec

__all__ = ["PriceTable", "default_prices", "estimate_cost"]

_CENT = Decimal("0.0001")


class PriceTable:
    """Dollars per second, looked up by provider, model and size."""

    def __init__(self, prices: Mapping[str, Mapping[str, Mapping[str, float | str]]]) -> None:
        self._prices: dict[tuple[str, str, str], Decimal] = {}
        for provider, models in prices.items():
            for model, sizes in models.items():
                for size, price in sizes.items():
                    try:
                        value = Decimal(str(price))
                    except ArithmeticError as exc:
                        raise ConfigError(
                            f"price for {provider}/{model}/{size} is not a number: {price!r}"
                        ) from exc
                    if value < 0:
                        raise ConfigError(f"price for {provider}/{model}/{size} is negative")
                    self._prices[(provider, model, size)] = value

    @classmethod
    def from_file(cls, path: Path) -> PriceTable:
        """Load a TOML file shaped like the built-in ``pricing.toml``."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read price file {path}: {exc}") from exc
        return cls(data)

    def per_second(self, provider: str, model: str, size: str) -> Decimal | None:
        """The price of one second, or ``None`` when the table has no entry."""
        for name in _candidates(model):
            for key in ((provider, name, size), (provider, name, "*")):
                if key in self._prices:
                    return self._prices[key]
        return None

    def estimate(self, spec: JobSpec) -> Decimal | None:
        """Dollars for ``spec``, or ``None`` when its model is not priced."""
        rate = self.per_second(spec.provider, spec.model, spec.size)
        if rate is None:
            return None
        return (rate * spec.seconds).quantize(_CENT)


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
        _DEFAULT = PriceTable(tomllib.loads(text))
    return _DEFAULT


def estimate_cost(spec: JobSpec, prices: PriceTable | None = None) -> Decimal | None:
    """Dollars for ``spec`` with ``prices`` (the built-in table by default)."""
    return (prices or default_prices()).estimate(spec)
