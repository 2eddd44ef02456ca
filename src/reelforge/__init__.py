"""reelforge: turn batches of video prompts into finished, verified video files.

The public API lives here; everything else is private or in a clearly named subpackage
(``reelforge.sim``, ``reelforge.providers``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reelforge")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0.0.0"

from reelforge.app import (
    BatchResult,
    Forge,
    GenerateEvent,
    GenerateResult,
    Phase,
    PollPolicy,
    generate,
    run,
)
from reelforge.batch import Batch, BatchFileError, BatchJob, load_batch
from reelforge.core import (
    AmbiguousSubmissionError,
    AssetExpiredError,
    AuthError,
    Clock,
    ConfigError,
    DownloadError,
    DownloadResult,
    EndpointGoneError,
    ErrorCategory,
    InvalidRequestError,
    InvalidSpecError,
    JobFailedError,
    JobSpec,
    JobState,
    ModelCapabilities,
    NotFoundError,
    Observation,
    PriceTable,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    ReelforgeError,
    RemoteError,
    RemoteState,
    RemoteStatus,
    Settings,
    SystemClock,
    TransientError,
    Variant,
    capabilities_for,
    estimate_cost,
    validate_spec,
)

__all__ = [
    "AmbiguousSubmissionError",
    "AssetExpiredError",
    "AuthError",
    "Batch",
    "BatchFileError",
    "BatchJob",
    "BatchResult",
    "Clock",
    "ConfigError",
    "DownloadError",
    "DownloadResult",
    "EndpointGoneError",
    "ErrorCategory",
    "Forge",
    "GenerateEvent",
    "GenerateResult",
    "InvalidRequestError",
    "InvalidSpecError",
    "JobFailedError",
    "JobSpec",
    "JobState",
    "ModelCapabilities",
    "NotFoundError",
    "Observation",
    "Phase",
    "PollPolicy",
    "PriceTable",
    "ProtocolError",
    "ProviderError",
    "RateLimitedError",
    "ReelforgeError",
    "RemoteError",
    "RemoteState",
    "RemoteStatus",
    "Settings",
    "SystemClock",
    "TransientError",
    "Variant",
    "__version__",
    "capabilities_for",
    "estimate_cost",
    "generate",
    "load_batch",
    "run",
    "validate_spec",
]
