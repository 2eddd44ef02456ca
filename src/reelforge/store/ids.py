"""Deterministic identifiers: job ids, request fingerprints, account partition keys."""

from __future__ import annotations

import hashlib

from reelforge.core.models import JobSpec
from reelforge.core.naming import job_id, slugify

__all__ = ["account_id", "fingerprint", "job_id"]


def _digest(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8")
        # Length-prefixed, so ("ab", "c") and ("a", "bc") never collide.
        hasher.update(len(encoded).to_bytes(8, "big"))
        hasher.update(encoded)
    return hasher.hexdigest()


def fingerprint(spec: JobSpec) -> str:
    """A hash of what the provider sees (prompt, model, seconds, size), for reconciliation."""
    return _digest(spec.prompt, spec.model, str(spec.seconds), spec.size)


def account_id(provider: str, base_url: str, api_key: str | None) -> str:
    """A partition key for a provider account that never reveals the key."""
    return f"{slugify(provider, max_length=24)}-{_digest(provider, base_url, api_key or '')[:16]}"
