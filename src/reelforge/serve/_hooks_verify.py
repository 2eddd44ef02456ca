"""Checking a provider's webhook delivery before anything in it is believed: the timestamp
window, then the signature over the exact bytes received.

Two schemes (``specs/standard-webhooks.md``, ``specs/live-providers.md`` 1.4 and 2.5):

* **Standard Webhooks** (the OpenAI protocol, Replicate): headers ``webhook-id``,
  ``webhook-timestamp`` and ``webhook-signature`` (space-separated ``v1,<base64>``); HMAC-SHA256
  with the secret over ``"{id}.{timestamp}.{body}"``, computed by the ``standardwebhooks``
  package and compared in constant time with each entry.
* **fal**: headers ``X-Fal-Webhook-Request-Id``, ``-User-Id``, ``-Timestamp`` and ``-Signature``
  (hex Ed25519) over ``request_id \\n user_id \\n timestamp \\n hex(sha256(body))``, accepted
  if any key of fal's JWKS verifies it.

Either way a timestamp more than :data:`TOLERANCE` seconds from now is refused as ``stale``
before the signature is looked at. A refusal is a :class:`Rejected` carrying the reason the
metrics count and the HTTP status to answer; its message never quotes a secret or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

__all__ = [
    "TOLERANCE",
    "FalHeaders",
    "Reason",
    "Rejected",
    "StandardHeaders",
    "ed25519_key",
    "fal_headers",
    "standard_headers",
    "standard_signer",
    "verify_fal",
    "verify_standard",
]

TOLERANCE = 300.0
"""Seconds a delivery's timestamp may be from now, either way (both schemes: 5 minutes)."""
_ID_MAX = 256
"""The longest delivery or request id accepted."""


class Reason(StrEnum):
    """Why a delivery was refused (the ``reason`` label of the rejected-deliveries metric)."""

    MISSING_HEADERS = "missing_headers"
    """A signature header is missing or unreadable."""
    STALE = "stale"
    """The timestamp is more than 5 minutes from now."""
    BAD_SIGNATURE = "bad_signature"
    """No signature matches the body (forged, altered, or signed with another key)."""
    TOO_LARGE = "too_large"
    """The body is over the size limit."""
    MALFORMED = "malformed"
    """Signed, but not the JSON the scheme sends."""
    NOT_CONFIGURED = "not_configured"
    """This process has no secret for the scheme."""
    KEYS_UNAVAILABLE = "keys_unavailable"
    """The key or secret to check with could not be fetched."""


_STATUS = {
    Reason.MISSING_HEADERS: 401,
    Reason.STALE: 401,
    Reason.BAD_SIGNATURE: 401,
    Reason.TOO_LARGE: 413,
    Reason.MALFORMED: 400,
    Reason.NOT_CONFIGURED: 503,
    Reason.KEYS_UNAVAILABLE: 503,
}


class Rejected(Exception):
    """A delivery refused: ``reason`` for the metrics, ``status`` for the answer."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = _STATUS[reason]


def _timestamp(raw: str, now: float) -> int:
    try:
        stamp = int(raw.strip())
    except ValueError:
        raise Rejected(Reason.MISSING_HEADERS, "the timestamp is not a whole number") from None
    if abs(now - stamp) > TOLERANCE:
        raise Rejected(Reason.STALE, "the timestamp is more than 5 minutes from now")
    return stamp


def _printable_id(raw: str, what: str) -> str:
    value = raw.strip()
    if not value or len(value) > _ID_MAX or not value.isprintable():
        raise Rejected(Reason.MISSING_HEADERS, f"the {what} is empty, too long or unprintable")
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class StandardHeaders:
    """The three Standard Webhooks headers of a delivery."""

    id: str
    timestamp: int
    signatures: tuple[str, ...]


def standard_headers(headers: Mapping[str, str], *, now: float) -> StandardHeaders:
    """The delivery's Standard Webhooks headers, its timestamp inside the window."""
    found = [headers.get(name) for name in ("webhook-id", "webhook-timestamp", "webhook-signature")]
    if not all(found):
        raise Rejected(Reason.MISSING_HEADERS, "webhook-id, -timestamp or -signature is missing")
    delivery_id, stamp, signature = (str(value) for value in found)
    return StandardHeaders(
        id=_printable_id(delivery_id, "webhook-id"),
        timestamp=_timestamp(stamp, now),
        signatures=tuple(signature.split()),
    )


def standard_signer(secret: str) -> Webhook:
    """The signer of a Standard Webhooks ``secret``: ``whsec_`` + base64 is decoded; any other
    secret is used as its UTF-8 bytes (as OpenAI's verifier does)."""
    try:
        if secret.startswith("whsec_"):
            return Webhook(secret)
        return Webhook(secret.encode("utf-8"))
    except (EmptyWebhookSecretError, binascii.Error, ValueError):
        raise Rejected(Reason.NOT_CONFIGURED, "the webhook secret is unusable") from None


def verify_standard(signers: Sequence[Webhook], headers: StandardHeaders, body: bytes) -> None:
    """Accept the body if any entry of ``webhook-signature`` is one of the ``signers``' for it."""
    sent = datetime.fromtimestamp(headers.timestamp, tz=UTC)
    given = [entry.encode() for entry in headers.signatures]
    for signer in signers:
        expected = signer.sign(headers.id, sent, body).encode()
        if any(hmac.compare_digest(expected, entry) for entry in given):
            return
    raise Rejected(Reason.BAD_SIGNATURE, "no signature matches the body")


@dataclass(frozen=True, kw_only=True, slots=True)
class FalHeaders:
    """The four ``X-Fal-Webhook-*`` headers of a delivery."""

    request_id: str
    user_id: str
    timestamp: str
    signature: bytes


def fal_headers(headers: Mapping[str, str], *, now: float) -> FalHeaders:
    """The delivery's fal headers, its timestamp inside the window."""
    names = ("request-id", "user-id", "timestamp", "signature")
    found = [headers.get(f"x-fal-webhook-{name}") for name in names]
    if not all(found):
        raise Rejected(Reason.MISSING_HEADERS, "an X-Fal-Webhook-* header is missing")
    request_id, user_id, stamp, signature = (str(value).strip() for value in found)
    _timestamp(stamp, now)
    try:
        raw = bytes.fromhex(signature)
    except ValueError:
        raise Rejected(Reason.MISSING_HEADERS, "the signature is not hex") from None
    return FalHeaders(
        request_id=_printable_id(request_id, "request id"),
        user_id=_printable_id(user_id, "user id"),
        timestamp=stamp,
        signature=raw,
    )


def verify_fal(keys: Sequence[Ed25519PublicKey], headers: FalHeaders, body: bytes) -> None:
    """Accept the body if any of ``keys`` verifies the signature of fal's message for it."""
    digest = hashlib.sha256(body).hexdigest()
    message = f"{headers.request_id}\n{headers.user_id}\n{headers.timestamp}\n{digest}".encode()
    for key in keys:
        try:
            key.verify(headers.signature, message)
        except InvalidSignature:
            continue
        return
    raise Rejected(Reason.BAD_SIGNATURE, "no key of fal's JWKS verifies the signature")


def ed25519_key(x: str) -> Ed25519PublicKey | None:
    """The public key in a JWK's ``x`` (base64url, unpadded), or None if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        return None
