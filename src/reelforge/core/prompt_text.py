"""Characters a prompt may not contain.

A prompt is text a person wrote, so it has no business carrying control characters or the
invisible bidirectional controls that make text read differently from what is stored (the
"Trojan Source" trick): a reviewer approves one sentence and the provider receives another.
Refused:

* C0 controls (U+0000 to U+001F) except TAB, LF and CR, and DEL (U+007F);
* C1 controls (U+0080 to U+009F);
* bidirectional embeddings, overrides and isolates (U+202A to U+202E, U+2066 to U+2069);
* lone surrogates (U+D800 to U+DFFF), which are not text at all and cannot be encoded as UTF-8.

The left-to-right and right-to-left marks (U+200E, U+200F) stay allowed: they cannot reorder
text, and right-to-left writing uses them.
"""

from __future__ import annotations

import re
import unicodedata

from reelforge.core.errors import InvalidSpecError

__all__ = ["REFUSED_PROMPT_CHARACTERS", "character_label", "check_prompt_characters"]

REFUSED_PROMPT_CHARACTERS = "control and bidirectional-override characters are refused"
"""Why such a character is refused, as every message says it."""

_REFUSED = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)

# Control characters have no Unicode name, only aliases (NameAliases.txt, type "control";
# PADDING CHARACTER, HIGH OCTET PRESET and SINGLE GRAPHIC CHARACTER INTRODUCER are "figment").
_CONTROL_NAMES = (
    "NULL",
    "START OF HEADING",
    "START OF TEXT",
    "END OF TEXT",
    "END OF TRANSMISSION",
    "ENQUIRY",
    "ACKNOWLEDGE",
    "ALERT",
    "BACKSPACE",
    "CHARACTER TABULATION",
    "LINE FEED",
    "LINE TABULATION",
    "FORM FEED",
    "CARRIAGE RETURN",
    "SHIFT OUT",
    "SHIFT IN",
    "DATA LINK ESCAPE",
    "DEVICE CONTROL ONE",
    "DEVICE CONTROL TWO",
    "DEVICE CONTROL THREE",
    "DEVICE CONTROL FOUR",
    "NEGATIVE ACKNOWLEDGE",
    "SYNCHRONOUS IDLE",
    "END OF TRANSMISSION BLOCK",
    "CANCEL",
    "END OF MEDIUM",
    "SUBSTITUTE",
    "ESCAPE",
    "INFORMATION SEPARATOR FOUR",
    "INFORMATION SEPARATOR THREE",
    "INFORMATION SEPARATOR TWO",
    "INFORMATION SEPARATOR ONE",
)
_C1_NAMES = (
    "PADDING CHARACTER",
    "HIGH OCTET PRESET",
    "BREAK PERMITTED HERE",
    "NO BREAK HERE",
    "INDEX",
    "NEXT LINE",
    "START OF SELECTED AREA",
    "END OF SELECTED AREA",
    "CHARACTER TABULATION SET",
    "CHARACTER TABULATION WITH JUSTIFICATION",
    "LINE TABULATION SET",
    "PARTIAL LINE FORWARD",
    "PARTIAL LINE BACKWARD",
    "REVERSE LINE FEED",
    "SINGLE SHIFT TWO",
    "SINGLE SHIFT THREE",
    "DEVICE CONTROL STRING",
    "PRIVATE USE ONE",
    "PRIVATE USE TWO",
    "SET TRANSMIT STATE",
    "CANCEL CHARACTER",
    "MESSAGE WAITING",
    "START OF GUARDED AREA",
    "END OF GUARDED AREA",
    "START OF STRING",
    "SINGLE GRAPHIC CHARACTER INTRODUCER",
    "SINGLE CHARACTER INTRODUCER",
    "CONTROL SEQUENCE INTRODUCER",
    "STRING TERMINATOR",
    "OPERATING SYSTEM COMMAND",
    "PRIVACY MESSAGE",
    "APPLICATION PROGRAM COMMAND",
)


def check_prompt_characters(prompt: str) -> None:
    """Raise :class:`InvalidSpecError` (field ``prompt``, value the character) naming the first
    refused character of ``prompt`` and its position (1 is the first character)."""
    found = _REFUSED.search(prompt)
    if found is None:
        return
    char = found.group()
    raise InvalidSpecError(
        f"prompt: character {character_label(char)} at position {found.start() + 1} is not "
        f"allowed in a prompt ({REFUSED_PROMPT_CHARACTERS})",
        field="prompt",
        value=char,
    )


def character_label(char: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``: the code point and its name or alias."""
    code = ord(char)
    if code < 0x20:
        name = _CONTROL_NAMES[code]
    elif code == 0x7F:
        name = "DELETE"
    elif 0x80 <= code <= 0x9F:
        name = _C1_NAMES[code - 0x80]
    elif 0xD800 <= code <= 0xDFFF:
        name = "LONE SURROGATE"
    else:
        name = unicodedata.name(char, "UNNAMED")
    return f"U+{code:04X} ({name})"
