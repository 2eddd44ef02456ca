"""The one exception root of reelforge, and every error it raises.

::

    ReelforgeError
    ├── ConfigError                   settings or environment are unusable
    ├── InvalidSpecError              a job's fields break the model's capabilities (exit code 2)
    │   └── BatchFileError            a batch file is malformed (reelforge.batch; every problem)
    ├── ProviderError                 the provider answered with an error, or could not be reached
    │   ├── AuthError                 401 / 403
    │   ├── InvalidRequestError       400 / 409 / 422: the server rejected the request
    │   ├── NotFoundError             404
    │   │   └── EndpointGoneError     the model or the whole endpoint no longer exists
    │   ├── RateLimitedError          429 (carries ``retry_after``)
    │   ├── TransientError            5xx, timeouts, dropped connections on idempotent calls
    │   │   └── AmbiguousSubmissionError   a create whose outcome is unknown: never retried
    │   ├── ProtocolError             the server sent something that is not the protocol
    │   └── UnsupportedOperationError the endpoint does not offer this operation (a gateway
    │                                 that cannot list, delete or serve a thumbnail)
    ├── StoreError                    the database (reelforge.store: not found, illegal transition…)
    ├── DownloadError                 an asset could not be fetched or verified
    │   ├── AssetExpiredError         the asset's URL or the job's assets have expired
    │   └── AssetMismatchError        the server sent something that is not the asked variant
    ├── JobFailedError                the remote job ended ``failed`` (with the reason)
    ├── SinkError                     a sink could not deliver an event (reelforge.sinks)
    │   ├── SinkUnavailableError      the destination is down or throttling: retried with backoff
    │   ├── SinkRejectedError         the destination refused this event for good: skipped
    │   └── SinkDisabledError         the destination asked to stop (410 Gone): sink disabled
    └── InvalidWebhookError           a received webhook is forged, stale or malformed (sinks)

Every error carries a :class:`ErrorCategory` so callers can branch on what happened, not on
which class was raised. Foreign exceptions (httpx, SQLAlchemy, …) are translated at the boundary
with ``raise X(...) from exc``. No error message ever includes a secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = [
    "AmbiguousSubmissionError",
    "AssetExpiredError",
    "AssetMismatchError",
    "AuthError",
    "ConfigError",
    "DownloadError",
    "EndpointGoneError",
    "ErrorCategory",
    "InvalidRequestError",
    "InvalidSpecError",
    "JobFailedError",
    "NotFoundError",
    "ProtocolError",
    "ProviderError",
    "RateLimitedError",
    "ReelforgeError",
    "TransientError",
    "UnsupportedOperationError",
]


class ErrorCategory(StrEnum):
    """What kind of failure happened, independent of the provider."""

    CONTENT_POLICY = "content_policy"
    """The provider refused the prompt or the result on policy grounds."""
    COMPLIANCE = "compliance"
    """reelforge's own compliance check blocked the prompt: it was never sent."""
    INVALID_REQUEST = "invalid_request"
    """The request was malformed or broke a capability limit."""
    AUTH = "auth"
    """Missing, wrong or insufficient credentials."""
    RATE_LIMITED = "rate_limited"
    """Too many requests or too many jobs in flight."""
    TRANSIENT = "transient"
    """A server or network failure that may succeed on a later attempt."""
    GENERATION_FAILED = "generation_failed"
    """The provider accepted the job but failed to produce the video."""
    TIMEOUT = "timeout"
    """The job did not finish within the allowed time."""
    EXPIRED = "expired"
    """The job's assets expired before they were downloaded."""
    NOT_FOUND = "not_found"
    """The job, asset, model or endpoint does not exist."""
    DOWNLOAD = "download"
    """The video was made (and paid) but its files could not be fetched or verified:
    ``reelforge retry`` resumes the download, it never creates the video again."""
    PROTOCOL = "protocol"
    """The provider's answers were not the protocol (unreadable bodies, impossible values)."""


class ReelforgeError(Exception):
    """Root of every error reelforge raises."""

    category: ErrorCategory = ErrorCategory.INVALID_REQUEST

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ReelforgeError):
    """Settings from the environment, a file or arguments are unusable."""


class InvalidSpecError(ReelforgeError):
    """A job's field has a value the model does not allow. Nothing was sent."""

    def __init__(
        self,
        message: str,
        *,
        field: str,
        value: object = None,
        allowed: Iterable[object] | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.allowed = tuple(allowed) if allowed is not None else None


class ProviderError(ReelforgeError):
    """The provider answered with an error, or could not be reached."""

    category = ErrorCategory.TRANSIENT

    def __init__(
        self,
        message: str,
        *,
        provider: str = "openai",
        status_code: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
        param: str | None = None,
        category: ErrorCategory | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds the server asked us to wait (``Retry-After`` / ``retry-after-ms``), if any."""
        self.provider = provider
        self.status_code = status_code
        self.request_id = request_id
        self.code = code
        self.param = param
        if category is not None:
            self.category = category

    def __str__(self) -> str:
        parts = [self.message]
        details = []
        if self.status_code is not None:
            details.append(f"HTTP {self.status_code}")
        if self.request_id:
            details.append(f"request id {self.request_id}")
        if details:
            parts.append(f"({', '.join(details)})")
        return " ".join(parts)


class AuthError(ProviderError):
    """401 or 403: the key is missing, wrong, or lacks permission."""

    category = ErrorCategory.AUTH


class InvalidRequestError(ProviderError):
    """The server rejected the request as invalid (400, 409, 422)."""

    category = ErrorCategory.INVALID_REQUEST


class NotFoundError(ProviderError):
    """The job, asset or endpoint does not exist (404)."""

    category = ErrorCategory.NOT_FOUND


class EndpointGoneError(NotFoundError):
    """The model or the endpoint is gone, e.g. OpenAI's hosted Videos API (shut down 2026-09-24)."""


class RateLimitedError(ProviderError):
    """429: too many requests or too many jobs in flight; ``retry_after`` says how long to wait."""

    category = ErrorCategory.RATE_LIMITED


class TransientError(ProviderError):
    """A failure that may succeed later: 5xx, timeouts, dropped connections."""

    category = ErrorCategory.TRANSIENT


class AmbiguousSubmissionError(TransientError):
    """A create request whose outcome is unknown: the job may or may not exist on the server.

    It is never retried blindly (a retry could create and bill a second video); the engine
    reconciles by listing the provider's jobs instead.
    """


class ProtocolError(ProviderError):
    """The server's answer is not the protocol: malformed JSON, missing fields, hostile values."""

    category = ErrorCategory.TRANSIENT


class UnsupportedOperationError(ProviderError):
    """The endpoint does not offer ``operation`` (``list``, ``delete``, ``variant:thumbnail``…):
    it answered 400/404/405/501 where the protocol has the operation. Gateways do this; the
    engine remembers it per account and works without the operation."""

    category = ErrorCategory.INVALID_REQUEST

    def __init__(self, message: str, *, operation: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.operation = operation


class DownloadError(ReelforgeError):
    """An asset could not be downloaded or did not verify."""

    category = ErrorCategory.DOWNLOAD


class AssetExpiredError(DownloadError):
    """The asset is gone: its job expired before it was downloaded."""

    category = ErrorCategory.EXPIRED


class AssetMismatchError(DownloadError):
    """What the server sent for a variant is not that variant (an MP4 served as the thumbnail):
    not an asset. The engine then makes the thumbnail or spritesheet from the video itself."""

    def __init__(self, message: str, *, variant: str, found: str) -> None:
        super().__init__(message)
        self.variant = variant
        self.found = found


class JobFailedError(ReelforgeError):
    """The remote job ended ``failed``; ``category`` and ``code`` say why."""

    def __init__(
        self,
        message: str,
        *,
        remote_id: str,
        category: ErrorCategory,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.remote_id = remote_id
        self.category = category
        self.code = code
