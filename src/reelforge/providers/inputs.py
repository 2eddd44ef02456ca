"""A job's model input as fal and Replicate take it: the catalog's wire names and forms.

:func:`model_input` maps a validated :class:`~reelforge.core.models.JobSpec` to the JSON object
these providers call a model's input — ``prompt``, then each provider-neutral field the model
takes under its wire name and form (``"8s"`` for Veo on fal, ``"5"`` for Kling, ``8`` on
Replicate, ``start_image_url`` for Kling's first frame), then ``params`` as given (they win).
A local image goes as a ``data:`` URL, which both providers accept for file inputs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from pathlib import Path
from typing import Any

from reelforge.core.capabilities import ModelCapabilities
from reelforge.core.catalog import pixel_ratio, wire_value
from reelforge.core.errors import InvalidSpecError
from reelforge.core.models import JobSpec

__all__ = ["MAX_IMAGE_BYTES", "input_digest", "model_input"]

MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""Largest local image sent inline as a ``data:`` URL."""

_FIELDS = (
    "seconds",
    "aspect_ratio",
    "resolution",
    "audio",
    "image",
    "end_image",
    "seed",
    "negative_prompt",
)


def model_input(spec: JobSpec, caps: ModelCapabilities) -> dict[str, Any]:
    """The model input for ``spec`` (validated: its defaults filled in) on ``caps``'s model.

    A model outside the catalog gets ``prompt`` and ``params`` only. Local image files are
    read here (call it off the event loop for large ones)."""
    body: dict[str, Any] = {"prompt": spec.prompt}
    if caps.known:
        for field in _FIELDS:
            target = caps.wire_name(field)
            value = getattr(spec, field)
            if target is None or value is None:
                continue
            name, form = target
            if field in ("image", "end_image"):
                value = _image_url(value, field)
            if form == "wh":
                body[name] = pixel_ratio(spec.aspect_ratio, spec.resolution)
            else:
                body[name] = wire_value(form, value)
    body.update(spec.params)
    return body


def input_digest(body: dict[str, Any]) -> str:
    """A stable fingerprint of a model input (key order and spacing ignored), to match a
    listed job's input against the one a job would send."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _image_url(value: str, field: str) -> str:
    if value.startswith(("http://", "https://", "data:")):
        return value
    path = Path(value)
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise InvalidSpecError(
                f"{field} {path.name} is {size} bytes; at most {MAX_IMAGE_BYTES} are sent inline "
                "(give a URL instead)",
                field=field,
                value=value,
            )
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidSpecError(
            f"{field} {value!r} cannot be read: {exc.strerror or exc}", field=field, value=value
        ) from exc
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
