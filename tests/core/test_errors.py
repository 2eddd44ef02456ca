import pytest

import reelforge
from reelforge import (
    AmbiguousSubmissionError,
    ErrorCategory,
    ProviderError,
    RateLimitedError,
    ReelforgeError,
    TransientError,
)


def _error_classes() -> list[type[BaseException]]:
    return [
        obj
        for name in reelforge.__all__
        if isinstance(obj := getattr(reelforge, name), type) and issubclass(obj, BaseException)
    ]


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_public_error_has_one_root_and_is_in_the_docstring_tree(
    cls: type[BaseException],
) -> None:
    assert issubclass(cls, ReelforgeError)
    assert cls.__name__ in reelforge.core.errors.__doc__  # type: ignore[operator]


def test_ambiguous_submission_is_transient_but_its_own_kind() -> None:
    exc = AmbiguousSubmissionError("create timed out", status_code=None, request_id="req_1")
    assert isinstance(exc, TransientError)
    assert exc.category is ErrorCategory.TRANSIENT


def test_provider_error_shows_status_and_request_id() -> None:
    exc = RateLimitedError("slow down", status_code=429, request_id="req_9", retry_after=2.5)
    assert str(exc) == "slow down (HTTP 429, request id req_9)"
    assert exc.category is ErrorCategory.RATE_LIMITED
    assert exc.retry_after == 2.5


def test_category_can_be_overridden_per_instance() -> None:
    exc = ProviderError("blocked", category=ErrorCategory.CONTENT_POLICY)
    assert exc.category is ErrorCategory.CONTENT_POLICY
    assert ProviderError.category is ErrorCategory.TRANSIENT
