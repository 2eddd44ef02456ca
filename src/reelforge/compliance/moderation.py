"""A moderation check through the OpenAI Moderations endpoint, turned into compliance findings.

::

    results = await moderate(client, prompts)      # one ModerationResult per prompt, in order
    merged = with_moderation(check(prompt), results[0])

A flagged category becomes a :class:`~reelforge.compliance.Finding` of severity ``error`` with
rule id ``moderation.<category>`` (``moderation.violence/graphic``) in the ``moderation`` pack.
Errors of the ``openai`` SDK become :class:`~reelforge.core.errors.ProviderError` subclasses
(:func:`provider_error`) whose messages never contain the API key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reelforge.compliance._check import ComplianceResult, Finding
from reelforge.compliance._packs import Severity
from reelforge.core.errors import (
    AuthError,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    TransientError,
)

if TYPE_CHECKING:
    import openai

__all__ = [
    "DEFAULT_MODERATION_MODEL",
    "MODERATION_PACK",
    "ModerationResult",
    "moderate",
    "provider_error",
    "with_moderation",
]

DEFAULT_MODERATION_MODEL = "omni-moderation-latest"
MODERATION_PACK = "moderation"
"""The ``pack`` of every moderation finding."""
_BATCH = 32
"""Inputs per request: well under the endpoint's limit, so a campaign costs few requests."""
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_KEY_LIKE_RE = re.compile(r"\bsk-[A-Za-z0-9_*.\-]{3,}")
_MAX_MESSAGE = 500
_BY_STATUS: dict[int, type[ProviderError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    429: RateLimitedError,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class ModerationResult:
    """The moderation verdict on one prompt."""

    prompt: str
    flagged: bool
    categories: tuple[str, ...] = ()
    """Names of the flagged categories as the API spells them (``violence/graphic``)."""
    scores: Mapping[str, float] = field(default_factory=dict)
    """Every category's score, flagged or not."""

    def findings(self) -> tuple[Finding, ...]:
        """One ``error`` finding per flagged category (none when not flagged); a prompt
        flagged without any category (some gateways answer so) gets ``moderation.flagged``."""
        if not self.flagged:
            return ()
        categories = self.categories or ("flagged",)
        return tuple(
            Finding(
                rule_id=f"{MODERATION_PACK}.{category}",
                severity=Severity.ERROR,
                message=(
                    f"the moderation model flagged the prompt for {category}"
                    if self.categories
                    else "the moderation model flagged the prompt (no category given)"
                ),
                pack=MODERATION_PACK,
                category=category if self.categories else None,
            )
            for category in categories
        )


def with_moderation(result: ComplianceResult, moderation: ModerationResult) -> ComplianceResult:
    """A new result with ``result``'s findings followed by ``moderation``'s."""
    return ComplianceResult(findings=result.findings + moderation.findings())


async def moderate(
    client: openai.AsyncOpenAI,
    prompts: Sequence[str],
    *,
    model: str = DEFAULT_MODERATION_MODEL,
) -> list[ModerationResult]:
    """Moderate ``prompts`` in batched requests; one result per prompt, in order."""
    import openai  # noqa: PLC0415  # on first use: a large import

    results: list[ModerationResult] = []
    for start in range(0, len(prompts), _BATCH):
        batch = list(prompts[start : start + _BATCH])
        try:
            answer = await client.moderations.create(model=model, input=batch)
        except openai.APIError as exc:
            raise provider_error(exc, secret=client.api_key, action="moderation") from exc
        if len(answer.results) != len(batch):
            raise ProtocolError(
                f"moderation answered {len(answer.results)} results for {len(batch)} inputs"
            )
        for prompt, item in zip(batch, answer.results, strict=True):
            flags = item.categories.model_dump(by_alias=True)
            scores = item.category_scores.model_dump(by_alias=True)
            results.append(
                ModerationResult(
                    prompt=prompt,
                    flagged=bool(item.flagged),
                    categories=tuple(name for name, value in flags.items() if value),
                    scores={
                        name: float(value)
                        for name, value in scores.items()
                        if isinstance(value, int | float)
                    },
                )
            )
    return results


def provider_error(exc: openai.APIError, *, secret: str | None, action: str) -> ProviderError:
    """``exc`` from the ``openai`` SDK as the matching reelforge error, its message cleaned.

    ``action`` names what failed (``moderation``, ``prompt writing``) at the start of the message.
    """
    import openai  # noqa: PLC0415  # on first use: a large import

    if isinstance(exc, openai.APIConnectionError):
        what = "timed out" if isinstance(exc, openai.APITimeoutError) else "could not connect"
        return TransientError(f"{action} {what}: {_clean(str(exc), secret)}")
    if isinstance(exc, openai.APIResponseValidationError):
        return ProtocolError(
            f"{action}: the server's answer is not the protocol: {_clean(exc.message, secret)}",
            status_code=exc.status_code,
        )
    if not isinstance(exc, openai.APIStatusError):
        return ProtocolError(f"{action} failed: {_clean(exc.message, secret)}")
    status = exc.status_code
    detail = _clean(_body_message(exc.body) or exc.message, secret)
    cls = _BY_STATUS.get(status, TransientError if status >= 500 else InvalidRequestError)
    return cls(
        f"{action} failed: {detail}",
        status_code=status,
        request_id=_clean(exc.request_id, secret) if exc.request_id else None,
        code=_clean(exc.code, secret) if isinstance(exc.code, str) else None,
        param=_clean(exc.param, secret) if isinstance(exc.param, str) else None,
        retry_after=_retry_after(exc) if status == 429 or status >= 500 else None,
    )


def _body_message(body: object) -> str | None:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return None


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) / scale
        except ValueError:
            continue
        if math.isfinite(value):
            return max(0.0, value)
    return None


def _clean(text: str, secret: str | None) -> str:
    """``text`` safe for a message: no key (whole or masked), no control characters, short."""
    text = _CONTROL_RE.sub(" ", text).strip()
    if secret and secret.strip():
        text = text.replace(secret.strip(), "[redacted]")
    text = _KEY_LIKE_RE.sub("[redacted]", text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return text
