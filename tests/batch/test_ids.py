"""Job ids, keys and batch names: safe as folder names and workflow ids, and one-to-one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelforge.batch import SAFE_NAME_PATTERN, job_id
from reelforge.batch.ids import KeyRegistry, name_problem, slug
from reelforge.core.errors import InvalidSpecError

names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z").filter(
    lambda name: name_problem(name) is None
)
batch_names = names.filter(lambda name: name_problem(name, batch=True) is None)


def test_job_id_is_batch_and_key_joined_by_two_dashes() -> None:
    assert job_id("spring-launch", "kite-01") == "spring-launch--kite-01"
    assert job_id("spring", "0001") == job_id("spring", "0001")


@pytest.mark.parametrize(
    ("batch", "key", "field"),
    [
        ("a--b", "k", "batch"),
        ("spring", "../k", "key"),
        ("spring", "", "key"),
        ("", "k", "batch"),
        ("spring", "a/b", "key"),
    ],
)
def test_job_id_refuses_unsafe_parts(batch: str, key: str, field: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        job_id(batch, key)
    assert info.value.field == field
    assert info.value.allowed == (SAFE_NAME_PATTERN,)


@given(batch_names, names, batch_names, names)
def test_job_ids_never_collide(b1: str, k1: str, b2: str, k2: str) -> None:
    if (b1, k1) != (b2, k2):
        assert job_id(b1, k1) != job_id(b2, k2)


@given(batch_names, names)
def test_a_job_id_is_a_safe_path_component(batch: str, key: str) -> None:
    value = job_id(batch, key)
    assert "/" not in value
    assert "\\" not in value
    assert value not in {".", ".."}
    assert len(value) <= 130


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("..", "is not a safe folder name"),
        ("a..b", "contains '..'"),
        ("kite.", "ends with '.'"),
        ("con", "reserved device name"),
        ("NUL.txt", "reserved device name"),
        ("-kite", "is not a safe folder name"),
        ("kite 01", "is not a safe folder name"),
        ("k" * 65, "is 65 characters; at most 64 allowed"),
        ("ﬁle", "is not a safe folder name"),
    ],
)
def test_unsafe_names(name: str, reason: str) -> None:
    problem = name_problem(name)
    assert problem is not None
    assert reason in problem


def test_two_dashes_are_fine_in_a_key_but_not_in_a_batch_name() -> None:
    assert name_problem("a--b") is None
    assert "job id separator" in (name_problem("a--b", batch=True) or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spring", "spring"),
        ("Spring Launch (v2)", "Spring-Launch-v2"),
        ("a--b", "a-b"),
        ("..hidden", "hidden"),
        ("con", "batch-con"),
        ("", "batch"),
        ("日本", "batch"),
        ("x" * 100, "x" * 64),
    ],
)
def test_slug_makes_a_safe_batch_name(text: str, expected: str) -> None:
    assert slug(text) == expected
    assert name_problem(slug(text), batch=True) is None


@given(st.text())
def test_slug_is_always_safe(text: str) -> None:
    assert name_problem(slug(text), batch=True) is None


def test_key_registry_ignores_case() -> None:
    keys = KeyRegistry()
    assert keys.add("Kite", "b.yaml:2") is None
    assert keys.add("boat", "b.yaml:4") is None
    assert keys.add("kite", "b.yaml:6") == (
        "duplicate key 'kite' (same folder as 'Kite': keys ignore case); already used at b.yaml:2"
    )
