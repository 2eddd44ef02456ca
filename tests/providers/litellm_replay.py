"""Answers recorded from a real LiteLLM proxy (``data/litellm-1.110.2``), replayed byte for byte.

Each recording is one answer as the proxy sent it (status line, headers, body; see the README in
that folder). :func:`recorded` turns it into a :class:`hostile.Reply`; the hostile server then
adds its own ``Content-Length``, so a recording whose body is replaced stays consistent.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from hostile import Reply

DATA = Path(__file__).parent / "data" / "litellm-1.110.2"
_DROPPED = frozenset({"content-length", "connection", "transfer-encoding"})


def recorded(name: str, *, body: bytes | None = None) -> Reply:
    """The recording ``name`` as a reply; ``body`` replaces the recorded body (the MP4 of a
    content answer was not kept)."""
    raw = (DATA / f"{name}.http").read_bytes()
    head, _, recorded_body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    _version, status, reason = status_line.split(" ", 2)
    headers = []
    for line in lines:
        header, _, value = line.partition(":")
        if header.strip().lower() not in _DROPPED:
            headers.append((header.strip(), value.strip()))
    return Reply(
        status=int(status),
        headers=headers,
        body=recorded_body if body is None else body,
        reason=reason,
    )


def recorded_json(name: str) -> Any:
    """The recorded body of ``name``, decoded."""
    reply = recorded(name)
    assert isinstance(reply.body, bytes)
    return json.loads(reply.body)


def recorded_header(name: str, header: str) -> str:
    """One header of the recording ``name``."""
    values = [value for key, value in recorded(name).headers if key.lower() == header.lower()]
    assert len(values) == 1, (name, header, values)
    return values[0]


def wrapped_id(length: int = 1000) -> str:
    """A gateway-style id of exactly ``length`` characters (at least 100): ``vid_`` and the
    base64 of a LiteLLM-like routing string whose upstream id makes ``+`` and ``/`` appear,
    ending in ``=`` padding."""
    encoded_length = length - len("vid_")
    assert encoded_length % 4 == 0, "base64 comes in groups of four"
    size = encoded_length // 4 * 3 - 1  # one byte short of a group: one '=' of padding
    prefix = b"litellm:custom_llm_provider:openai;model_id:sora-2;video_id:video_"
    suffix = b";deployment_id:6afee5ca28270e9e"
    filler = b"~~?>?~" * size  # at this alignment: "fn4/" and "Pj9+"
    routing = prefix + filler[: size - len(prefix) - len(suffix)] + suffix
    remote_id = "vid_" + base64.b64encode(routing).decode()
    assert len(remote_id) == length
    assert {"+", "/", "="} <= set(remote_id)
    return remote_id
