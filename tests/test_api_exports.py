import importlib

import pytest

import reelforge

MODULES = [
    "reelforge",
    "reelforge.core",
    "reelforge.app",
    "reelforge.providers",
    "reelforge.sim",
    "reelforge.batch",
    "reelforge.store",
    "reelforge.engine",
    "reelforge.campaign",
    "reelforge.compliance",
    "reelforge.fakenotion",
    "reelforge.sinks",
    "reelforge.sinks.notion",
]


def _isort_key(name: str) -> tuple[int, str]:
    """Constants first, then classes, then everything else (ruff's RUF022 order)."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_key)
    assert len(set(exported)) == len(exported)
    for item in exported:
        assert hasattr(module, item), f"{name}.{item} is in __all__ but missing"


def test_version_is_set() -> None:
    assert reelforge.__version__.count(".") >= 1
