"""The combinations of a campaign: the product, exclusions, a seeded sample, ids and names.

Everything here is deterministic across machines and Python versions: the product follows the
file's order, ids and sample ranks are SHA-256 digests of canonical JSON, and nothing iterates
over a set or depends on ``hash()``.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence

from reelforge.batch.ids import name_problem
from reelforge.core.naming import slugify

__all__ = [
    "Combination",
    "combination_id",
    "combination_names",
    "expand",
    "iter_expand",
    "iter_names",
    "matches",
]

Combination = tuple[tuple[str, str], ...]
"""``(dimension, value)`` pairs in the file's dimension order."""

ID_LENGTH = 12
_NAME_MAX = 64
_SUFFIX = 8


def combination_id(combination: Combination) -> str:
    """A short, stable id: a digest of the ``name=value`` pairs sorted by dimension name."""
    canonical = json.dumps(sorted(combination), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:ID_LENGTH]


def matches(combination: Combination, partial: Mapping[str, str]) -> bool:
    """Whether every ``dimension: value`` of ``partial`` holds in ``combination``."""
    values = dict(combination)
    return all(values.get(name) == value for name, value in partial.items())


def expand(
    dimensions: Mapping[str, Sequence[str]],
    exclude: Sequence[Mapping[str, str]],
    limit: int | None,
    seed: int,
) -> list[Combination]:
    """The product in file order, minus exclusions, then at most ``limit`` by a seeded sample.

    The sample ranks each combination by SHA-256 of ``(seed, id)``, keeps the ``limit`` lowest
    and returns them in product order: the same on every machine, and a larger limit only adds.
    """
    return list(iter_expand(dimensions, exclude, limit, seed))


def iter_expand(
    dimensions: Mapping[str, Sequence[str]],
    exclude: Sequence[Mapping[str, str]],
    limit: int | None,
    seed: int,
) -> Iterator[Combination]:
    """:func:`expand` one combination at a time, holding at most ``limit`` ranks (the sample's)
    rather than the product: the product is walked twice when a sample is drawn."""
    names = list(dimensions)

    def kept() -> Iterator[Combination]:
        for values in itertools.product(*(dimensions[name] for name in names)):
            combination = tuple(zip(names, values, strict=True))
            if not any(matches(combination, partial) for partial in exclude):
                yield combination

    if limit is None or sum(1 for _ in kept()) <= limit:
        yield from kept()
        return
    lowest = heapq.nsmallest(limit, ((_rank(seed, c), i) for i, c in enumerate(kept())))
    chosen = {i for _, i in lowest}
    for i, combination in enumerate(kept()):
        if i in chosen:
            yield combination


def _rank(seed: int, combination: Combination) -> str:
    payload = json.dumps([seed, combination_id(combination)], separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def combination_names(combinations: Sequence[Combination]) -> list[str]:
    """A readable, unique (ignoring case), path-safe name for each combination.

    The slugs of its values joined by ``-`` (``cinematic-product-hero-gen-z-female``); when that
    is too long, not a safe name, or shared with another combination, a part of the id is added.
    """
    plain = [
        "-".join(slugify(value, max_length=_NAME_MAX, fallback="x") for _, value in c)
        for c in combinations
    ]
    counts: dict[str, int] = {}
    for name in plain:
        counts[name] = counts.get(name, 0) + 1
    result = []
    for name, combination in zip(plain, combinations, strict=True):
        if len(name) > _NAME_MAX or counts[name] > 1 or name_problem(name) is not None:
            stem = name[: _NAME_MAX - _SUFFIX - 1].rstrip("-")
            result.append(f"{stem}-{combination_id(combination)[:_SUFFIX]}".lstrip("-"))
        else:
            result.append(name)
    return result


def iter_names(
    dimensions: Mapping[str, Sequence[str]], combinations: Iterable[Combination]
) -> Iterator[tuple[str, Combination]]:
    """:func:`combination_names` one at a time, with each combination.

    When no two combinations of the whole product can have the same plain name (the values
    of each dimension have distinct slugs, all with the same number of ``-``-separated
    parts, so a name splits back into its values one way only), names are made as they come;
    otherwise the combinations are gathered and named together.
    """
    if not _names_unique(dimensions):
        listed = list(combinations)
        yield from zip(combination_names(listed), listed, strict=True)
        return
    slugs = {
        (name, value): slugify(value, max_length=_NAME_MAX, fallback="x")
        for name, values in dimensions.items()
        for value in values
    }
    for combination in combinations:
        name = "-".join(slugs[pair] for pair in combination)
        if len(name) > _NAME_MAX or name_problem(name) is not None:
            stem = name[: _NAME_MAX - _SUFFIX - 1].rstrip("-")
            name = f"{stem}-{combination_id(combination)[:_SUFFIX]}".lstrip("-")
        yield name, combination


def _names_unique(dimensions: Mapping[str, Sequence[str]]) -> bool:
    for values in dimensions.values():
        slugs = [slugify(value, max_length=_NAME_MAX, fallback="x") for value in values]
        if len(set(slugs)) < len(slugs) or len({s.count("-") for s in slugs}) > 1:
            return False
    return True
