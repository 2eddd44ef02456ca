from __future__ import annotations

import dataclasses
import inspect

import reelforge.store
from reelforge.core.errors import ReelforgeError
from reelforge.store import JobRow, Store


def _isort_key(name: str) -> tuple[int, str]:
    """Constants first, then classes, then everything else (ruff's RUF022 order)."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted_and_complete() -> None:
    exported = list(reelforge.store.__all__)
    assert exported == sorted(exported, key=_isort_key)
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert hasattr(reelforge.store, name)


def test_every_store_error_is_a_reelforge_error() -> None:
    errors = [
        getattr(reelforge.store, name) for name in reelforge.store.__all__ if name.endswith("Error")
    ]
    assert errors
    assert all(issubclass(error, ReelforgeError) for error in errors)


def test_rows_are_frozen_and_public_methods_documented() -> None:
    assert dataclasses.is_dataclass(JobRow)
    assert JobRow.__dataclass_params__.frozen  # type: ignore[attr-defined]
    for name, member in inspect.getmembers(Store, inspect.isfunction):
        if not name.startswith("_"):
            assert member.__doc__, name
