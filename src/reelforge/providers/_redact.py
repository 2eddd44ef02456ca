"""The API key removed from everything a server sends, in every form it is likely to be echoed.

A careless or hostile server may send the key back in a header, a JSON body or an error page.
:class:`Redactor` replaces it with ``[redacted]`` in raw bytes, in text, in decoded JSON (keys and
string values) and in headers. The forms it catches:

* the key verbatim;
* any of its characters JSON-escaped (``\\u0073``, ``\\/``) or percent-encoded (``%73``), in
  any mix (so ``\\u0073k-...`` and ``sk%2D...`` are caught);
* the key base64-encoded, in the standard and the URL-safe alphabet, at each of the three byte
  alignments, so it is caught inside a longer encoded value too (``Basic <user:key>``).

Redaction must run before anything shortens the text, or a cut could keep part of the key.
"""

from __future__ import annotations

import base64
import re

import httpx

__all__ = ["REDACTED", "Redactor", "clean_text"]

REDACTED = "[redacted]"
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_MIN_BASE64 = 16
"""Shorter base64 fragments could match ordinary text (a video id) and are not redacted."""


def clean_text(text: str, *, limit: int, redactor: Redactor | None = None) -> str:
    """``text`` made safe for a message: no control characters, no secret, at most ``limit``."""
    text = _CONTROL_RE.sub(" ", text).strip()
    if redactor is not None:  # before truncating, so a cut can never leave part of the secret
        text = redactor.text(text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


class Redactor:
    """Replaces one secret (``None``: nothing to hide) wherever it appears."""

    __slots__ = ("_bytes_re", "_text_re")

    def __init__(self, secret: str | None) -> None:
        self._text_re: re.Pattern[str] | None = None
        self._bytes_re: re.Pattern[bytes] | None = None
        if secret:
            cores = [re.escape(core) for core in _base64_cores(secret.encode())]
            self._text_re = re.compile("|".join([_escaped_form(secret), *cores]))
            self._bytes_re = re.compile(
                b"|".join([_escaped_form_bytes(secret), *(c.encode() for c in cores)])
            )

    def text(self, text: str) -> str:
        """``text`` with every occurrence of the secret replaced."""
        if self._text_re is None:
            return text
        return self._text_re.sub(REDACTED, text)

    def raw(self, data: bytes) -> bytes:
        """``data`` with every occurrence of the secret replaced (before any decoding)."""
        if self._bytes_re is None:
            return data
        return self._bytes_re.sub(REDACTED.encode(), data)

    def headers(self, headers: httpx.Headers) -> httpx.Headers:
        """A copy of ``headers`` with the secret replaced in every name and value."""
        if self._bytes_re is None:
            return headers
        pairs = [(self.raw(name), self.raw(value)) for name, value in headers.raw]
        return httpx.Headers(pairs, encoding=headers.encoding)

    def json(self, value: object) -> object:
        """Decoded JSON with the secret replaced in every string and object key.

        Catches what the raw bytes hid behind escapes. Containers are rebuilt in place,
        iteratively, so any nesting the JSON decoder accepted is walked.
        """
        if self._text_re is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        stack: list[object] = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                for index, item in enumerate(node):
                    if isinstance(item, str):
                        node[index] = self.text(item)
                    elif isinstance(item, list | dict):
                        stack.append(item)
            elif isinstance(node, dict):
                items = [
                    (self.text(key) if isinstance(key, str) else key, item)
                    for key, item in node.items()
                ]
                node.clear()
                for key, item in items:
                    if isinstance(item, list | dict):
                        stack.append(item)
                    node[key] = self.text(item) if isinstance(item, str) else item
        return value


def _hex(value: int, width: int) -> str:
    """``value`` as hex digits that match either case."""
    digits = f"{value:0{width}x}"
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)


def _char_forms(char: str) -> list[str]:
    """Regular expressions for one character: itself, JSON-escaped, percent-encoded."""
    forms = [re.escape(char)]
    code = ord(char)
    if code <= 0xFFFF:
        forms.append(r"\\u" + _hex(code, 4))
    forms.append("".join("%" + _hex(byte, 2) for byte in char.encode()))
    if char == "/":
        forms.append(r"\\/")
    return forms


def _escaped_form(secret: str) -> str:
    return "".join(f"(?:{'|'.join(_char_forms(char))})" for char in secret)


def _escaped_form_bytes(secret: str) -> bytes:
    parts = []
    for char in secret:
        forms = [re.escape(char.encode()), *(f.encode() for f in _char_forms(char)[1:])]
        parts.append(b"(?:" + b"|".join(forms) + b")")
    return b"".join(parts)


def _base64_cores(secret: bytes) -> list[str]:
    """The base64 characters that depend only on ``secret``, at each byte alignment."""
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + secret).decode()
        start = -(-offset * 8 // 6)  # the first character whose bits are all the secret's
        end = (offset + len(secret)) * 8 // 6
        core = encoded[start:end]
        if len(core) >= _MIN_BASE64:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return sorted(cores)
