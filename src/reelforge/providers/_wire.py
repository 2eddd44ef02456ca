"""The OpenAI Videos wire format, read defensively: ids, headers, Video objects, list pages.

Everything here treats the server as untrusted. A value that is not the protocol raises
:class:`ProtocolError`; nothing malformed is passed on as if it were fine. The parsers receive
data and headers the session has already redacted (the API key replaced by ``[redacted]``, which
no id or request id accepts), so nothing here ever sees the key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import quote

import httpx

from reelforge.core.errors import ErrorCategory, ProtocolError
from reelforge.core.models import RemoteError, RemoteState, RemoteStatus
from reelforge.providers._redact import REDACTED, clean_text

__all__ = [
    "MAX_ID_LENGTH",
    "REQUEST_ID_HEADERS",
    "ListPage",
    "check_id",
    "decode_json",
    "failure_category",
    "id_problem",
    "id_segment",
    "is_valid_id",
    "parse_deleted",
    "parse_list_page",
    "parse_video",
    "poll_after_seconds",
    "request_id_of",
    "shown_id",
]

MAX_ID_LENGTH = 1024
"""Longest remote id accepted (a gateway's wrapped id is about 240 characters)."""
REQUEST_ID_HEADERS = ("x-request-id", "x-litellm-call-id")
"""Where a request id is read from, first match wins: the protocol's own header, then the one a
gateway sends instead (LiteLLM's proxy sends only ``x-litellm-call-id``)."""
_SHOWN_ID = 256
"""Ids up to this long appear whole in messages; longer ones are shortened."""
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.:+/=]{0,127}", re.ASCII)
_MAX_POLL_AFTER = 24 * 3600.0
_MAX_TEXT = 32_000 * 4  # a prompt is at most 32,000 characters; allow generous slack
_MAX_ERROR_TEXT = 2000
_MAX_CODE = 128
_NO_REASON = "the provider gave no reason for the failure"

# Provider status strings whose meaning is certain. Anything else raises ProtocolError.
_STATES: dict[str, RemoteState] = {
    "queued": RemoteState.QUEUED,
    "pending": RemoteState.QUEUED,
    "submitted": RemoteState.QUEUED,
    "in_progress": RemoteState.IN_PROGRESS,
    "processing": RemoteState.IN_PROGRESS,
    "running": RemoteState.IN_PROGRESS,
    "completed": RemoteState.COMPLETED,
    "succeeded": RemoteState.COMPLETED,
    "failed": RemoteState.FAILED,
    "cancelled": RemoteState.CANCELED,
    "canceled": RemoteState.CANCELED,
    "expired": RemoteState.EXPIRED,
}
_POLICY_WORDS = ("moderation", "policy", "safety", "content_filter", "guardrail")


def id_problem(value: str) -> str | None:
    """What makes ``value`` unusable as a remote id, in a few words; ``None`` if it is usable.

    Remote ids are opaque: any printable text of 1 to :data:`MAX_ID_LENGTH` characters
    (base64's ``+ / =`` included, a gateway wraps the upstream id that way). Refused: an empty
    id, a longer one, whitespace and characters that are not printable (control, format and
    unassigned characters), an id made only of dots (``.`` and ``..`` would address another
    path), and one that held the API key (the session redacted it). The answer never repeats
    the id, so a huge one cannot flood a message.
    """
    if not value:
        return "it is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"it is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed"
    for position, char in enumerate(value, start=1):
        if char.isspace() or not char.isprintable():
            kind = "whitespace" if char.isspace() else "not a printable character"
            return f"character {position} is U+{ord(char):04X} ({kind})"
    if not value.strip("."):
        return "it is made only of dots"
    if REDACTED in value:
        return "it contained the API key"
    return None


def is_valid_id(value: object) -> bool:
    """Whether ``value`` is a usable remote id (see :func:`id_problem`)."""
    return isinstance(value, str) and id_problem(value) is None


def check_id(value: object, *, what: str = "video id") -> str:
    """``value`` if it is a usable id, else :class:`ProtocolError` saying what is wrong (the
    value itself is never echoed)."""
    if not isinstance(value, str):
        raise ProtocolError(f"{what} is not a string ({type(value).__name__})")
    problem = id_problem(value)
    if problem is not None:
        raise ProtocolError(f"{what} is not usable: {problem}")
    return value


def id_segment(remote_id: str) -> str:
    """``remote_id`` as one URL path segment: every reserved character percent-encoded
    (``/`` as ``%2F``, ``+`` as ``%2B``, ``=`` as ``%3D``), non-ASCII as UTF-8."""
    return quote(remote_id, safe="")


def shown_id(remote_id: str) -> str:
    """``remote_id`` as a message shows it: whole up to 256 characters, else its start and end."""
    if len(remote_id) <= _SHOWN_ID:
        return remote_id
    return f"{remote_id[:160]}...{remote_id[-60:]} ({len(remote_id)} characters)"


def request_id_of(headers: httpx.Headers) -> str | None:
    """The request id: ``x-request-id``, else a gateway's own (``x-litellm-call-id``).

    Only a short token of id characters counts (no spaces, quotes or brackets: a redacted
    value is never one); an unusable header is skipped for the next."""
    for name in REQUEST_ID_HEADERS:
        raw: str | None = headers.get(name)
        if raw is not None and _REQUEST_ID_RE.fullmatch(raw) is not None:
            return raw
    return None


def poll_after_seconds(headers: httpx.Headers) -> float | None:
    """The ``openai-poll-after-ms`` hint in seconds; ignored (``None``) if unreadable."""
    raw = headers.get("openai-poll-after-ms")
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return min(value / 1000.0, _MAX_POLL_AFTER)


def decode_json(body: bytes, *, what: str) -> object:
    """Parse ``body`` as JSON; :class:`ProtocolError` if it is not."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"{what}: the body is not valid JSON") from exc


def failure_category(code: str | None, message: str) -> ErrorCategory:
    """The category of a failed job: content policy when the code or message says so."""
    text = f"{code or ''} {message}".lower()
    if any(word in text for word in _POLICY_WORDS):
        return ErrorCategory.CONTENT_POLICY
    return ErrorCategory.GENERATION_FAILED


def parse_video(data: object, headers: httpx.Headers | None = None) -> RemoteStatus:
    """A Video object as a :class:`RemoteStatus`, with the response's hints attached."""
    obj = _object(data, "video")
    kind = obj.get("object", "video")
    if kind != "video":
        raise ProtocolError(f"expected a video object, got object={_short(kind)}")
    remote_id = check_id(obj.get("id"))
    shown = shown_id(remote_id)
    raw_status = obj.get("status")
    if not isinstance(raw_status, str):
        raise ProtocolError(f"video {shown}: status is missing or not a string")
    state = _STATES.get(raw_status.strip().lower())
    if state is None:
        raise ProtocolError(
            f"video {shown}: unknown status {_short(raw_status)}; "
            f"known: {', '.join(sorted(_STATES))}"
        )
    created_at = _timestamp(obj, "created_at", shown, required=True)
    remixed = obj.get("remixed_from_video_id")
    return RemoteStatus(
        remote_id=remote_id,
        state=state,
        progress=_progress(obj.get("progress"), state, shown),
        model=_text(obj, "model", shown, limit=256),
        seconds=_seconds(obj.get("seconds"), shown),
        size=_text(obj, "size", shown, limit=32),
        prompt=_text(obj, "prompt", shown, limit=_MAX_TEXT),
        created_at=created_at,
        completed_at=_timestamp(obj, "completed_at", shown),
        expires_at=_timestamp(obj, "expires_at", shown),
        error=_error(obj.get("error"), state, shown),
        remixed_from=None if remixed is None else check_id(remixed, what="remixed_from_video_id"),
        poll_after=poll_after_seconds(headers) if headers is not None else None,
        request_id=request_id_of(headers) if headers is not None else None,
        provider_status=raw_status,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class ListPage:
    """One page of ``GET /videos``."""

    items: tuple[RemoteStatus, ...]
    has_more: bool
    last_id: str | None


def parse_list_page(data: object, headers: httpx.Headers) -> ListPage:
    """A list envelope; ``last_id`` falls back to the last item's id when absent."""
    obj = _object(data, "list")
    if obj.get("object", "list") != "list":
        raise ProtocolError(f"expected a list object, got object={_short(obj.get('object'))}")
    raw_items = obj.get("data")
    if not isinstance(raw_items, list):
        raise ProtocolError("list: 'data' is missing or not an array")
    has_more = obj.get("has_more", False)
    if not isinstance(has_more, bool):
        raise ProtocolError("list: 'has_more' is not a boolean")
    request_id = request_id_of(headers)
    items = tuple(_with_request_id(parse_video(item), request_id) for item in raw_items)
    raw_last = obj.get("last_id")
    last_id = check_id(raw_last, what="last_id") if raw_last is not None else None
    if last_id is None and items:
        last_id = items[-1].remote_id
    return ListPage(items=items, has_more=has_more, last_id=last_id)


def parse_deleted(data: object, remote_id: str) -> None:
    """Check a deletion confirmation for ``remote_id``."""
    obj = _object(data, "deletion")
    if obj.get("id", remote_id) != remote_id:
        raise ProtocolError(f"deletion of {shown_id(remote_id)} confirmed a different id")
    if obj.get("deleted") is not True:
        raise ProtocolError(f"the server did not confirm the deletion of {shown_id(remote_id)}")


def _with_request_id(status: RemoteStatus, request_id: str | None) -> RemoteStatus:
    if request_id is None:
        return status
    return replace(status, request_id=request_id)


def _object(data: object, what: str) -> Mapping[str, object]:
    if not isinstance(data, dict):
        raise ProtocolError(f"expected a JSON object for the {what}, got {type(data).__name__}")
    return data


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(obj: Mapping[str, object], key: str, shown: str, *, limit: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ProtocolError(f"video {shown}: {key} is not a string of at most {limit} chars")
    return value


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _timestamp(
    obj: Mapping[str, object], key: str, shown: str, *, required: bool = False
) -> float | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ProtocolError(f"video {shown}: {key} is missing")
        return None
    number = _number(value)
    if number is None or not 0 <= number < 2**40:
        raise ProtocolError(f"video {shown}: {key} is not a Unix timestamp")
    return number


def _progress(value: object, state: RemoteState, shown: str) -> int:
    if value is None:
        return 100 if state is RemoteState.COMPLETED else 0
    number = _number(value)
    if number is None or not 0 <= number <= 100:
        raise ProtocolError(f"video {shown}: progress {_short(value)} is not in 0..100")
    return int(number)


def _seconds(value: object, shown: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 6:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**6:
        return value
    number = _number(value)
    if number is not None and number.is_integer() and 0 <= number < 10**6:
        return int(number)
    raise ProtocolError(f"video {shown}: seconds {_short(value)} is not a whole number")


def _error(value: object, state: RemoteState, shown: str) -> RemoteError | None:
    if value is None:
        if state is RemoteState.FAILED:
            return RemoteError(category=ErrorCategory.GENERATION_FAILED, message=_NO_REASON)
        return None
    if not isinstance(value, dict):
        raise ProtocolError(f"video {shown}: error is not an object")
    message = value.get("message")
    code = value.get("code")
    if message is not None and not isinstance(message, str):
        raise ProtocolError(f"video {shown}: error.message is not a string")
    if code is not None and not isinstance(code, str | int):
        raise ProtocolError(f"video {shown}: error.code is not a string")
    code_text = None if code is None else clean_text(str(code), limit=_MAX_CODE) or None
    text = clean_text(message or "", limit=_MAX_ERROR_TEXT) or _NO_REASON
    return RemoteError(category=failure_category(code_text, text), message=text, code=code_text)
