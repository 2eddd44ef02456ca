"""Wire details of Vertex AI's Veo protocol: Google's error shape, operations, and the
OAuth2 token endpoint's JWT check.

A Veo job is a :class:`~reelforge.sim.state.Job` with ``protocol="vertex"``; its ``data`` holds
the project, location and model of the path it was created on, and the ``storageUri`` prefix
when the output goes to (simulated) Cloud Storage.

The simulator trusts one built-in service account, :data:`SIMULATOR_SERVICE_ACCOUNT`, whose
private key is published here on purpose: it is a throwaway key that only this simulator
accepts, so the simulated Vertex endpoint works without anyone's Google credentials.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import load_pem_x509_certificate
from starlette.responses import JSONResponse

from reelforge.sim.protocol import ApiError
from reelforge.sim.state import MODERATION_MESSAGE, Job

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "GOOGLE_TOKEN_AUDIENCE",
    "RESPONSE_TYPE",
    "SIMULATOR_SERVICE_ACCOUNT",
    "GoogleError",
    "GrantRefused",
    "TokenTable",
    "operation_json",
    "public_key",
    "render_error",
    "verify_assertion",
    "wall_now",
]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105  # a URL, not a secret
"""The audience google-auth signs its JWT grant for, whatever the ``token_uri``."""
RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 3600.0
"""Google refuses a JWT grant whose ``exp`` is more than an hour after its ``iat``."""
CLOCK_SKEW = 300.0
"""How far in the future an assertion's ``iat`` may be."""
GENERATION_ERROR = "Video generation failed due to an internal error. Please try again."
RAI_REASON = (
    "Unable to generate videos because the prompt could violate our policies. "
    "Try rephrasing the prompt. Support codes: 58061214"
)

_SIM_KEY_PEM = """-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQD2RAb381Tgh0bd
XD2DeLuL1jzNkO2xgsLU/16rTV2iz4ZW3NEka/LYbLfsfErKyWr4lRAeTtuxTAjQ
4VpH8ggRl7Nk89w67AU7OZzBec0DSm1p8/QcTjx2by5Nq+gQlj51UpLKXjfldyUd
R2GI3DdvHeHyzCiWvPvEpgs9RkK5u646zu+QFyWZ4O4qUX+2viVn7M3QNgmmVNNF
6lluy2fjRObNbrLy1FMUjFARwbtdPw/ztTBaVHY3GRaCeKj7yyQfuGXm6c8Mm5gE
ibAytC10zjlY8OBnHkPq8v+O4rLT5pwS+gIRqf5B97XCZv3CuK4erMfL/MdUc8zi
J1OL9V4bAgMBAAECggEATggUJTDnLhXvMGjv3N6+nnqN3Z0Uk/CZB6C7QJBNIS+c
o51ob5/83PLl/HsNv9++k3G4H8Jg/nbXPEiLsMxSHjDxWQWkPM9YgQGqV+veODK3
JKF2MhngMq7b/yR/bfINbGNzu8fK8lykV/isQQ92STEwzRw/qDPNmuv6F7pRnkPo
uSa3hQTTy0o7USUValReRZa4IRLj2+/d6elmb5tsUfcvAOCQ2lKpAZbK3bsSnfOe
4Z7yrUbm4acQn9rN/kkmr/DibTCJ0qj35YZZvOmyVxHQKqXuxIfW8mlXgq4Irmov
/DAjJk2Fosvjte7djSom2Pr4txEMsnb8/5HaLEQuIQKBgQD+RPLQgqYQKwm/hvtp
o8odsJAMMmBbr7OqyR5uPk/BupjSWyGD5/re0Y/0DN0bo/LzEDp4LRvVlMBMcz2F
J40FD8Q3tdk1QYUugkzTmvc3NH+FYgJxI2XLSJywt8yKezEg7S6YWnk9NGyFwTM1
QHlTTQSopZG0R3D4rGWdmlOXuQKBgQD38SIDDAHmtYDhOhOCS4psI6/sZY7Ovsmr
VoPFmgkmISI3zU+adM0JNB7yHdIabCvgqgJSccs6bfRDv6ZFUp0VQrNU2dI1mjwg
5EQFW4+Bi+AOxApzYFaeht39OsZt0hpRYFNfYSJB3/xgIoFITIByFHnSch029JsV
nVlx6tjmcwKBgQD4E8Mn5mApJCR1pjfDANegkfRowfm7Wribp2+2NbtRE0Io8lrH
vFzKaoHdpXNQlWvi8/Fn8PLYNjJMJJ9gO49d4d0aUaTjTdKn5t8YEXijduf39gDV
66hUZrrhu+GnNrxfGKm+YX8qVOyQr0fL6+SzflBOToPS9WTmaiUWWEy4mQKBgQDc
9bsu5fOHzHc3wQ8DzhhlOQSd8v/qxeJp3GcAob7HiT26ZzEq4C6dpiJx+Rt1yrLr
u/bnzFumDbli6xfdrbsp6FBzLM+GT5aIZYUtFST1+VbLMfByVAe9rUmGVGvkERq9
LNAAL0tdU6TRc86tROgvQooyftoEUMco4xqESBvWewKBgQCsK9vMyxT7xlWw56Eg
I5yeeyaiA/9esENVywwJIOvU9/4kHSw2KKmpu7tRaAwHyWtC8JvNoXjOK023KX8v
Yz5aLtSwT6tf2eH/PFwnJbynoJTvlN/RwVuEHyuNyBf/UeluilAuzkKw2xRxctJc
G9egO9LFerZDQr3fKf4Zv8t4wQ==
-----END PRIVATE KEY-----
"""

SIMULATOR_SERVICE_ACCOUNT: dict[str, str] = {
    "type": "service_account",
    "project_id": "reelforge-sim",
    "private_key_id": "reelforge-sim-throwaway",
    "private_key": _SIM_KEY_PEM,
    "client_email": "reelforge-sim@reelforge-sim.iam.gserviceaccount.com",
    "client_id": "100000000000000000000",
    "token_uri": "http://127.0.0.1/token",
}
"""A service-account file for the simulator's own throwaway key (``token_uri`` is replaced
with the simulator's ``/token``). Not a secret: only the simulator trusts it."""

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    416: "OUT_OF_RANGE",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential."
)


@dataclass(kw_only=True)
class GoogleError(ApiError):
    """An error answered in Google's shape, with its ``status`` word when not the default."""

    google_status: str | None = None


def render_error(error: ApiError) -> JSONResponse:
    """``{"error": {"code", "message", "status"}}`` for ``error`` (real or injected)."""
    status_word = error.google_status if isinstance(error, GoogleError) else None
    status_word = status_word or _STATUS_NAMES.get(error.status, "UNKNOWN")
    message = error.message
    if error.status == 401:
        message = _UNAUTHENTICATED
    elif error.status == 429 and not isinstance(error, GoogleError):
        message = "Resource exhausted. Please try again later."
    elif error.status >= 500 and not isinstance(error, GoogleError):
        message = "Internal error encountered."
        if error.status != 500:
            message = "The service is currently unavailable."
    headers = {k: v for k, v in error.headers.items() if k != "retry-after-ms"}
    body = {"error": {"code": error.status, "message": message, "status": status_word}}
    return JSONResponse(body, status_code=error.status, headers=headers)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key(pem: str) -> rsa.RSAPublicKey:
    """An RSA public key from a PEM public key or X.509 certificate."""
    data = pem.encode("ascii")
    loaded: object
    if b"CERTIFICATE" in data:
        loaded = load_pem_x509_certificate(data).public_key()
    elif b"PRIVATE KEY" in data:
        loaded = serialization.load_pem_private_key(data, password=None).public_key()
    else:
        loaded = serialization.load_pem_public_key(data)
    if not isinstance(loaded, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    return loaded


@dataclass(kw_only=True)
class GrantRefused(Exception):
    """A token request the endpoint refuses: OAuth's ``error`` code and its description."""

    error: str
    description: str

    def __post_init__(self) -> None:
        super().__init__(self.description)


def _refuse(description: str, error: str = "invalid_grant") -> GrantRefused:
    return GrantRefused(error=error, description=description)


def verify_assertion(
    assertion: str, *, keys: dict[str, rsa.RSAPublicKey], audiences: set[str], now: float
) -> str:
    """The service account's email of a valid JWT-bearer ``assertion``; raises
    :class:`GrantRefused` (OAuth's ``invalid_grant`` or ``invalid_scope``) naming what is wrong."""
    parts = assertion.split(".")
    if len(parts) != 3:  # header.payload.signature
        raise _refuse("Invalid JWT: not a compact JWS.")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except ValueError:
        raise _refuse("Invalid JWT: undecodable segment.") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _refuse("Invalid JWT: segments must be JSON objects.")
    if header.get("alg") != "RS256":
        raise _refuse("Invalid JWT: only RS256 is accepted.")
    issuer = claims.get("iss")
    key = keys.get(issuer) if isinstance(issuer, str) else None
    if key is None:
        raise _refuse("Invalid JWT Signature: unknown service account.")
    try:
        key.verify(
            signature, f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise _refuse("Invalid JWT Signature.") from None
    if claims.get("aud") not in audiences:
        raise _refuse("Invalid JWT: the audience is not this token endpoint.")
    scopes = str(claims.get("scope", "")).split()
    if CLOUD_PLATFORM_SCOPE not in scopes:
        raise _refuse("Invalid OAuth scope or ID token audience provided.", "invalid_scope")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise _refuse("Invalid JWT: iat and exp are required.")
    if iat > now + CLOCK_SKEW or exp <= now or exp - iat > MAX_ASSERTION_LIFETIME:
        raise _refuse(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim."
        )
    return str(issuer)


@dataclass
class TokenTable:
    """Access tokens issued by the token endpoint: token -> (service account, expiry)."""

    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    issued: int = 0

    def issue(self, account: str, now: float, lifetime: float) -> str:
        """A new access token for ``account``, valid ``lifetime`` seconds from ``now``."""
        token = "ya29.sim-" + secrets.token_urlsafe(24)
        self.tokens[token] = (account, now + lifetime)
        self.issued += 1
        return token

    def account(self, token: str, now: float) -> str | None:
        """The account of a valid ``token``; ``None`` when unknown or expired."""
        found = self.tokens.get(token)
        if found is None or now >= found[1]:
            return None
        return found[0]


def operation_json(job: Job, now: float, *, inline: str | None) -> dict[str, Any]:
    """The ``google.longrunning.Operation`` of ``job`` at ``now``; ``inline`` is the MP4 in
    base64 when the output is not written to Cloud Storage."""
    name = str(job.data["name"])
    state, _ = job.status(now)
    body: dict[str, Any] = {"name": name}
    if not state.is_terminal:
        return body
    body["done"] = True
    if job.fail_code is not None and job.fail_message != MODERATION_MESSAGE:
        body["error"] = {"code": 13, "message": GENERATION_ERROR}
        return body
    response: dict[str, Any] = {"@type": RESPONSE_TYPE, "raiMediaFilteredCount": 0}
    if job.fail_code is not None:
        response["raiMediaFilteredCount"] = 1
        response["raiMediaFilteredReasons"] = [RAI_REASON]
        response["videos"] = []
    elif job.data.get("gcs_uri"):
        response["videos"] = [{"gcsUri": job.data["gcs_uri"], "mimeType": "video/mp4"}]
    else:
        response["videos"] = [{"bytesBase64Encoded": inline or "", "mimeType": "video/mp4"}]
    body["response"] = response
    return body


def wall_now() -> float:
    """Real Unix time (assertions are signed with the signer's wall clock)."""
    return time.time()
