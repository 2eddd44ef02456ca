"""Safe names: nothing that comes from a prompt or a provider becomes a path unchecked."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["is_safe_component", "slugify"]

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_safe_component(name: str) -> bool:
    """Whether ``name`` can be used as one path component as it is (no ``/``, no ``..``)."""
    return bool(_SAFE.match(name)) and ".." not in name


def slugify(text: str, *, max_length: int = 40, fallback: str = "job") -> str:
    """A lowercase ``a-z0-9-`` slug of ``text`` (accents folded), at most ``max_length`` long."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    slug = slug[:max_length].rstrip("-")
    return slug or fallback
