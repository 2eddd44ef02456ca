"""Errors the fake answers with, in Notion's shape:
``{"object": "error", "status": …, "code": …, "message": …, "request_id": …}``."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MISSING", "NotionApiError", "describe", "not_found", "validation_error"]


class NotionApiError(Exception):
    """A Notion error response, raised inside handlers and rendered by the app."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self, request_id: str) -> dict[str, Any]:
        """The JSON body Notion sends for this error."""
        return {
            "object": "error",
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "request_id": request_id,
        }


def describe(value: object) -> str:
    """A value as Notion's messages quote it: JSON, ``undefined`` for a missing one."""
    if value is _MISSING:
        return "undefined"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Missing:
    def __repr__(self) -> str:
        return "undefined"


_MISSING: Any = _Missing()
MISSING: Any = _MISSING
"""Stands for an absent JSON field in :func:`describe` and :func:`validation_error`."""


def validation_error(path: str, expected: str, actual: object = _MISSING) -> NotionApiError:
    """``body failed validation: <path> should be <expected>, instead was `<actual>`.``"""
    return NotionApiError(
        400,
        "validation_error",
        f"body failed validation: {path} should be {expected}, instead was `{describe(actual)}`.",
    )


def not_found(kind: str, object_id: str) -> NotionApiError:
    """Notion's 404 for an object that does not exist (or is not shared with the integration)."""
    return NotionApiError(
        404,
        "object_not_found",
        f"Could not find {kind} with ID: {object_id}. "
        "Make sure the relevant pages and databases are shared with your integration.",
    )
