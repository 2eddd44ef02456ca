"""Column types that behave the same on SQLite and Postgres."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["SCALE", "Money"]

SCALE = 4
"""Decimal places kept for every amount of money (ten-thousandths of a dollar)."""

_UNIT = Decimal(1).scaleb(-SCALE)


class Money(TypeDecorator[Decimal]):
    """An exact amount of money as :class:`~decimal.Decimal`, rounded to :data:`SCALE` places.

    Postgres stores ``NUMERIC(12, 4)``. SQLite has no exact decimal type (its ``NUMERIC``
    keeps floats), so there the amount is stored as an integer count of ten-thousandths,
    which keeps sums in SQL exact.
    """

    impl = Numeric(12, SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(12, SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = Decimal(value).quantize(_UNIT)
        if dialect.name == "sqlite":
            return int(amount.scaleb(SCALE))
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-SCALE).quantize(_UNIT)
        return Decimal(value).quantize(_UNIT)
