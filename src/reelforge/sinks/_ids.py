"""Short, stable tags derived from destinations and databases, never revealing a secret."""

from __future__ import annotations

import hashlib

from sqlalchemy.engine import make_url

__all__ = ["database_origin", "short_hash"]


def short_hash(text: str, length: int = 8) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def database_origin(url: str) -> str:
    """A tag for the database at ``url``: the same for every process that opens the same
    database, different for another database. The password is left out of the hash, so
    rotating it keeps the tag."""
    return short_hash(make_url(url).render_as_string(hide_password=True))
