"""Text normalization for matching: one canonical form, with a map back to the original text.

Each character of the prompt is folded on its own (so every output character knows which input
character it came from): Unicode NFKC (full-width and styled letters become plain ones), casefold,
NFKD with combining marks dropped (``ü`` → ``u``), then a small table of look-alikes from other
scripts (Cyrillic a, e, o, p, c, x; Greek omicron…). That gives the *plain* view.

The *leet* view additionally reads ``0 1 3 4 5 7 @ $`` as ``o i e a s t a s``, but only inside a
run of letters and such characters that holds at least two real letters: ``cur3s`` becomes
``cures`` while ``#1``, ``100%``, ``sora-2`` and ``3D`` stay as they are.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["NormalizedText", "normalize", "normalize_views"]

_CONFUSABLES = str.maketrans(
    {
        # Cyrillic (lower case; upper case is casefolded first)
        "\N{CYRILLIC SMALL LETTER A}": "a",
        "\N{CYRILLIC SMALL LETTER VE}": "b",
        "\N{CYRILLIC SMALL LETTER IE}": "e",
        "\N{CYRILLIC SMALL LETTER IO}": "e",
        "\N{CYRILLIC SMALL LETTER SHHA}": "h",
        "\N{CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I}": "i",
        "\N{CYRILLIC SMALL LETTER YI}": "i",
        "\N{CYRILLIC SMALL LETTER JE}": "j",
        "\N{CYRILLIC SMALL LETTER KA}": "k",
        "\N{CYRILLIC SMALL LETTER PALOCHKA}": "l",
        "\N{CYRILLIC SMALL LETTER EM}": "m",
        "\N{CYRILLIC SMALL LETTER EN}": "h",
        "\N{CYRILLIC SMALL LETTER O}": "o",
        "\N{CYRILLIC SMALL LETTER ER}": "p",
        "\N{CYRILLIC SMALL LETTER ES}": "c",
        "\N{CYRILLIC SMALL LETTER DZE}": "s",
        "\N{CYRILLIC SMALL LETTER TE}": "t",
        "\N{CYRILLIC SMALL LETTER U}": "y",
        "\N{CYRILLIC SMALL LETTER HA}": "x",
        "\N{CYRILLIC SMALL LETTER KOMI DE}": "d",
        "\N{CYRILLIC SMALL LETTER QA}": "q",
        "\N{CYRILLIC SMALL LETTER WE}": "w",
        # Greek
        "\N{GREEK SMALL LETTER ALPHA}": "a",
        "\N{GREEK SMALL LETTER BETA}": "b",
        "\N{GREEK SMALL LETTER EPSILON}": "e",
        "\N{GREEK SMALL LETTER IOTA}": "i",
        "\N{GREEK SMALL LETTER KAPPA}": "k",
        "\N{GREEK SMALL LETTER NU}": "v",
        "\N{GREEK SMALL LETTER OMICRON}": "o",
        "\N{GREEK SMALL LETTER RHO}": "p",
        "\N{GREEK SMALL LETTER TAU}": "t",
        "\N{GREEK SMALL LETTER UPSILON}": "u",
        "\N{GREEK SMALL LETTER CHI}": "x",
        # Latin odds and ends
        "\N{LATIN SMALL LETTER DOTLESS I}": "i",
        "\N{LATIN SMALL LETTER L WITH STROKE}": "l",
        "\N{LATIN SMALL LETTER O WITH STROKE}": "o",
        "\N{LATIN SMALL LETTER D WITH STROKE}": "d",
        "\N{LATIN SMALL LETTER H WITH STROKE}": "h",
    }
)

_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    """The plain form of one character (possibly empty, possibly several characters)."""
    text = char
    # Twice, so that the result is a fixed point (a casefold can produce a decomposable form).
    for _ in range(2):
        text = unicodedata.normalize("NFKC", text).casefold()
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
        text = text.translate(_CONFUSABLES)
    return text


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """A normalized view of a text; ``origin[i]`` is the input index of ``text[i]``."""

    text: str
    origin: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The input span that produced ``text[start:end]`` (``end > start``)."""
        return self.origin[start], self.origin[end - 1] + 1


def _plain(text: str) -> NormalizedText:
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _fold_char(char)
        out.append(folded)
        origin.extend([index] * len(folded))
    return NormalizedText("".join(out), tuple(origin))


def _leet(plain: NormalizedText) -> NormalizedText:
    chars = list(plain.text)
    run: list[int] = []
    letters = 0

    def flush() -> None:
        if letters >= 2:
            for i in run:
                chars[i] = _LEET.get(chars[i], chars[i])

    for i, char in enumerate(chars):
        if char.isalpha():
            run.append(i)
            letters += 1
        elif char in _LEET:
            run.append(i)
        else:
            flush()
            run, letters = [], 0
    flush()
    return NormalizedText("".join(chars), plain.origin)


def normalize_views(text: str) -> tuple[NormalizedText, NormalizedText]:
    """The plain and the leet views of ``text`` (the same when ``text`` has no leet)."""
    plain = _plain(text)
    return plain, _leet(plain)


def normalize(text: str) -> str:
    """The canonical form of ``text`` (its leet view). Idempotent."""
    return normalize_views(text)[1].text
