"""Compiled patterns: words and phrases become regexes over the normalized text.

A word pattern ``cure`` is normalized like the prompt, expanded to its simple inflections
(``cures``, ``cured``, ``curing``…) and compiled so that

* it must start and end on a word boundary (no letter or digit just outside it), so ``secure``
  never matches ``cure``; ``substring`` rules drop that guard on purpose;
* a word may be spelled *tight* or *spaced*. Tight: up to three punctuation characters (no
  whitespace) between any letters, which catches ``c.u.r.e.s`` and ``cu-res``. Spaced: one to three
  separator characters, whitespace included, between *every* pair of letters, so each fragment is a
  single letter (``c u r e s``, ``c. u. r. e. s``). Fragments longer than one letter are never
  joined across whitespace, so ``it's ex`` does not spell ``sex`` and ``cu res`` is not ``cures``;
* the words of a phrase are separated by any run of non-word characters, or none at all
  (``Coca-Cola``, ``coca cola`` and ``cocacola`` are one pattern);
* ``i`` and ``l`` are interchangeable (``cIinically``, ``cl1nically``).

Regex rules are compiled as written and run over the normalized text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from reelforge.compliance._normalize import normalize

__all__ = ["WORD", "Matcher", "compile_phrase", "compile_regex", "inflections"]

WORD = re.compile(r"[^\W_]+")
"""A word of a phrase pattern (after normalization)."""
_TIGHT_GAP = r"(?:[^\w\s]|_){0,3}"
_SPACED_GAP = r"[\W_]{1,3}"
_WORD_GAP = r"[\W_]{0,8}"
_BEFORE = r"(?<![^\W_])"
_AFTER = r"(?![^\W_])"
_VOWELS = frozenset("aeiou")


def inflections(word: str) -> tuple[str, ...]:
    """``word`` and its simple plural, past and gerund forms, longest first."""
    forms = {word, word + "s", word + "es"}
    if word.endswith("e"):
        forms |= {word + "d", word[:-1] + "ing"}
    else:
        forms |= {word + "ed", word + "ing"}
        if len(word) >= 3 and word[-1] not in _VOWELS and word[-2] in _VOWELS:
            forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    if len(word) >= 2 and word.endswith("y") and word[-2] not in _VOWELS:
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    return tuple(sorted(forms, key=lambda f: (-len(f), f)))


def _letter(char: str) -> str:
    if char in "il":
        return "[il]"
    return re.escape(char)


def _spelled(form: str) -> str:
    letters = [_letter(c) for c in form]
    if len(letters) == 1:
        return letters[0]
    return f"{_TIGHT_GAP.join(letters)}|{_SPACED_GAP.join(letters)}"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One compiled pattern; ``finditer`` yields ``(start, end)`` spans of the normalized text."""

    regex: re.Pattern[str]

    def finditer(self, text: str) -> Iterator[tuple[int, int]]:
        """Spans of ``text`` (already normalized) where the pattern occurs."""
        for match in self.regex.finditer(text):
            if match.end() > match.start():
                yield match.start(), match.end()


@lru_cache(maxsize=1024)
def compile_phrase(pattern: str, *, inflect: bool = True, substring: bool = False) -> Matcher:
    """Compile a word or phrase (see the module docstring). Raises ``ValueError`` if it is empty."""
    words = WORD.findall(normalize(pattern))
    if not words:
        msg = f"pattern {pattern!r} has no letters or digits"
        raise ValueError(msg)
    parts = []
    for word in words:
        forms = inflections(word) if inflect and word.isalpha() else (word,)
        parts.append(f"(?:{'|'.join(_spelled(f) for f in forms)})")
    body = _WORD_GAP.join(parts)
    source = body if substring else f"{_BEFORE}{body}{_AFTER}"
    return Matcher(re.compile(source))


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> Matcher:
    """Compile a raw regex, run over the normalized text. Raises ``re.error`` if it is invalid."""
    return Matcher(re.compile(pattern))
