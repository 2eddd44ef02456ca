"""Checking a received webhook: :func:`verify_webhook` (for the receiving side)."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import Any

import standardwebhooks
from standardwebhooks.webhooks import EmptyWebhookSecretError

from reelforge.core.errors import ConfigError, ReelforgeError

__all__ = ["MAX_TOLERANCE", "InvalidWebhookError", "signer", "verify_webhook"]

MAX_TOLERANCE = 300.0
"""Seconds a webhook's timestamp may be from now (Standard Webhooks' window; the library
enforces it too, so a tolerance can only narrow it)."""


class InvalidWebhookError(ReelforgeError):
    """A received webhook is not authentic or not fresh; answer 400 and drop it.

    ``reason`` is ``"headers"`` (missing or malformed), ``"timestamp"`` (outside the
    tolerance: a replay, or a clock far off), ``"signature"`` (forged, or another secret)
    or ``"body"`` (authentic but not a JSON object).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def signer(secret: str) -> standardwebhooks.Webhook:
    """The signer/verifier for a ``whsec_…`` secret: the prefix, then 24 to 64 bytes in
    base64 (what Standard Webhooks asks for). Anything else raises :class:`ConfigError`,
    which never shows the secret: a receiver given the same text could not agree on the key."""
    if not secret or not secret.strip():
        raise ConfigError("the webhook secret is empty")
    unusable = ConfigError(
        f"the webhook secret is not usable: expected whsec_ followed by "
        f"{MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes in base64"
    )
    encoded = secret.strip()
    if not encoded.startswith("whsec_"):
        raise unusable
    try:
        key = base64.b64decode(encoded.removeprefix("whsec_"), validate=True)
        verifier = standardwebhooks.Webhook(encoded)
    except (binascii.Error, ValueError, EmptyWebhookSecretError):
        raise unusable from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise unusable
    return verifier


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = MAX_TOLERANCE,
) -> dict[str, Any]:
    """Check a received webhook and return its parsed JSON body.

    ``body`` must be the raw bytes as received (not re-serialised JSON); ``headers`` any
    mapping with ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (in any
    case). The timestamp must be within ``tolerance`` seconds of now (at most 300) and one
    of the ``v1`` signatures must match. Raises :class:`InvalidWebhookError` otherwise.
    Deduplicate on the returned event's ``webhook-id``: a redelivery carries the same one.
    """
    if not 0 < tolerance <= MAX_TOLERANCE:
        raise ValueError(f"tolerance must be in (0, {MAX_TOLERANCE:g}] seconds, not {tolerance}")
    lowered = {str(key).lower(): str(value) for key, value in headers.items()}
    missing = [
        name
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        if not lowered.get(name)
    ]
    if missing:
        raise InvalidWebhookError(f"missing header(s): {', '.join(missing)}", reason="headers")
    try:
        stamp = int(lowered["webhook-timestamp"])
    except ValueError:
        raise InvalidWebhookError(
            "webhook-timestamp is not whole Unix seconds", reason="headers"
        ) from None
    skew = time.time() - stamp
    if skew > tolerance:
        raise InvalidWebhookError(
            f"webhook-timestamp is {skew:.0f} s old (more than {tolerance:g} s): a replay?",
            reason="timestamp",
        )
    if -skew > tolerance:
        raise InvalidWebhookError(
            f"webhook-timestamp is {-skew:.0f} s in the future (more than {tolerance:g} s)",
            reason="timestamp",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidWebhookError("the body is not UTF-8", reason="body") from None
    try:
        signer(secret).verify(text, lowered, json_parse=False)
    except standardwebhooks.WebhookVerificationError as exc:
        reason = "timestamp" if "timestamp" in str(exc).lower() else "signature"
        raise InvalidWebhookError(f"webhook rejected: {exc}", reason=reason) from exc
    except ValueError as exc:  # a signature entry without "v1," or with broken base64
        raise InvalidWebhookError(
            "webhook-signature is malformed (expected 'v1,<base64>' entries)", reason="headers"
        ) from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidWebhookError("the signed body is not JSON", reason="body") from exc
    if not isinstance(document, dict):
        raise InvalidWebhookError("the signed body is not a JSON object", reason="body")
    return document
