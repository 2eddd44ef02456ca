"""Safe names: nothing that comes from a prompt or a provider becomes a path unchecked."""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["JOB_ID_SEPARATOR", "is_safe_component", "job_id", "slugify"]

JOB_ID_SEPARATOR = "--"

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


def job_id(batch: str, key: str) -> str:
    """The stable id of job ``key`` of ``batch``: a safe path component and workflow id.

    Readable when it can be — ``"spring-launch--kite-01"`` for a safe batch name without
    ``--`` and a safe key — and otherwise a slug of the key with a hash of both
    (``"hero-etc-3f9c…"``), which never contains ``--``, so the two forms never collide.
    """
    readable = f"{batch}{JOB_ID_SEPARATOR}{key}"
    if (
        is_safe_component(batch)
        and is_safe_component(key)
        and JOB_ID_SEPARATOR not in batch
        and len(readable) <= 128
    ):
        return readable
    digest = hashlib.sha256()
    for part in (batch, key):
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return f"{slugify(key, max_length=48)}-{digest.hexdigest()[:12]}"
