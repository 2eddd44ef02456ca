"""Wire details of the OpenAI Videos protocol: the error envelope, body parsing and validation.

Messages follow the live API's wording where it is known (see ``specs/openai-videos.md``).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse

from reelforge.core.capabilities import MAX_PROMPT_CHARS, capabilities_for
from reelforge.sim.config import SimConfig

__all__ = [
    "EXTENSION_SECONDS",
    "ApiError",
    "CreateParams",
    "RequestBody",
    "parse_create",
    "parse_prompt",
    "read_body",
    "server_error",
]

INVALID = "invalid_request_error"
EXTENSION_SECONDS = (4, 8, 12, 16, 20)
_SERVER_ERROR_MESSAGE = (
    "The server had an error while processing your request. Sorry about that! "
    "You can retry your request, or contact us through our help center if the error persists."
)
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent "
    "was not valid JSON.)"
)


@dataclass(kw_only=True)
class ApiError(Exception):
    """An error answer in the protocol's envelope."""

    status: int
    message: str
    type: str = INVALID
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    """Set when an injected fault (not a real problem with the request) caused this answer."""

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The ``{"error": {...}}`` envelope."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        """A JSON response carrying the envelope and this error's headers."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def server_error(status: int, fault: str, retry_after: float | None = None) -> ApiError:
    """A 5xx in the protocol's words, marked with the fault that caused it."""
    headers = {}
    if retry_after is not None and status == 503:
        headers = retry_headers(retry_after)
    return ApiError(
        status=status,
        message=_SERVER_ERROR_MESSAGE,
        type="server_error",
        headers=headers,
        fault=fault,
    )


def retry_headers(seconds: float) -> dict[str, str]:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms``."""
    whole = max(0, -int(-seconds // 1))
    return {"retry-after": str(whole), "retry-after-ms": str(max(0, int(seconds * 1000)))}


_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),  # before int: bool is an int subclass
    (int, "an integer"),
    (float, "a decimal"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
)


def _type_name(value: object) -> str:
    for kind, name in _TYPE_NAMES:
        if isinstance(value, kind):
            return name
    return "null"


def _invalid_type(param: str, expected: str, value: object) -> ApiError:
    return ApiError(
        status=400,
        message=f"Invalid type for '{param}': expected {expected}, "
        f"but got {_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _join(values: Sequence[str], word: str) -> str:
    quoted = [f"'{value}'" for value in values]
    if len(quoted) <= 1:
        return "".join(quoted)
    if len(quoted) == 2:
        return f"{quoted[0]} {word} {quoted[1]}"
    return ", ".join(quoted[:-1]) + f", {word} {quoted[-1]}"


def _invalid_value(param: str, value: str, allowed: Sequence[str]) -> ApiError:
    return ApiError(
        status=400,
        message=f"Invalid value: '{value}'. Supported values are: {_join(allowed, 'and')}.",
        param=param,
        code="invalid_value",
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestBody:
    """A request's fields, from JSON or a form; ``typed`` is True for JSON (types are real)."""

    fields: Mapping[str, Any]
    files: Mapping[str, bytes]
    typed: bool


async def read_body(request: Request) -> RequestBody:
    """Parse a JSON, multipart or urlencoded body; nested form keys ``a[b]`` become objects."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        async with request.form(max_part_size=64 * 1024 * 1024) as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files[key] = await value.read()
                    continue
                if "[" in key and key.endswith("]"):
                    outer, inner = key[:-1].split("[", 1)
                    nested = fields.setdefault(outer, {})
                    if isinstance(nested, dict):
                        nested[inner] = value
                    continue
                fields[key] = value
        return RequestBody(fields=fields, files=files, typed=False)
    raw = await request.body()
    if not raw.strip():
        return RequestBody(fields={}, files={}, typed=True)
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(status=400, message=_BAD_JSON) from exc
    if not isinstance(data, dict):
        raise ApiError(
            status=400,
            message="Invalid type for request body: expected an object, "
            f"but got {_type_name(data)} instead.",
            code="invalid_type",
        )
    return RequestBody(fields=data, files={}, typed=True)


def parse_prompt(body: RequestBody) -> str:
    """The required ``prompt`` (1 to 32000 characters)."""
    if "prompt" not in body.fields:
        raise ApiError(
            status=400,
            message="Missing required parameter: 'prompt'.",
            param="prompt",
            code="missing_required_parameter",
        )
    prompt = body.fields["prompt"]
    if not isinstance(prompt, str):
        raise _invalid_type("prompt", "a string", prompt)
    if not prompt:
        raise ApiError(
            status=400,
            message="Invalid 'prompt': string too short. Expected a string with minimum length 1, "
            "but got an empty string instead.",
            param="prompt",
            code="string_below_min_length",
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(
            status=400,
            message=f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{MAX_PROMPT_CHARS}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


def parse_seconds(body: RequestBody, allowed: Sequence[int], *, default: int | None) -> int:
    """``seconds``: a string from ``allowed``; a JSON integer is a type error (as live)."""
    names = [str(value) for value in allowed]
    if "seconds" not in body.fields or body.fields["seconds"] is None:
        if default is None:
            raise ApiError(
                status=400,
                message="Missing required parameter: 'seconds'.",
                param="seconds",
                code="missing_required_parameter",
            )
        return default
    value = body.fields["seconds"]
    if not isinstance(value, str):
        raise ApiError(
            status=400,
            message=f"Invalid type for 'seconds': expected one of {_join(names, 'or')}, "
            f"but got {_type_name(value)} instead.",
            param="seconds",
            code="invalid_type",
        )
    if value not in names:
        raise _invalid_value("seconds", value, names)
    return int(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateParams:
    """A validated create request."""

    prompt: str
    model: str
    seconds: int
    size: str


def _model_caps(model: str, config: SimConfig) -> tuple[tuple[int, ...], tuple[str, ...]]:
    extra = config.extra_models.get(model)
    if extra is not None:
        return extra.seconds, extra.sizes
    caps = capabilities_for(model)
    if not caps.known:
        raise ApiError(
            status=config.unknown_model_status,
            message=f"The model '{model}' does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return caps.seconds, caps.sizes


def model_seconds(model: str, config: SimConfig) -> tuple[int, ...]:
    """The durations a model accepts on create."""
    return _model_caps(model, config)[0]


def parse_create(body: RequestBody, config: SimConfig) -> CreateParams:
    """Validate a create request against the model's capabilities."""
    prompt = parse_prompt(body)
    model = body.fields.get("model", "sora-2")
    if model is None:
        model = "sora-2"
    if not isinstance(model, str):
        raise _invalid_type("model", "a string", model)
    seconds_allowed, sizes = _model_caps(model, config)
    seconds = parse_seconds(
        body, seconds_allowed, default=4 if 4 in seconds_allowed else seconds_allowed[0]
    )
    size = body.fields.get("size") or ("720x1280" if "720x1280" in sizes else sizes[0])
    if not isinstance(size, str):
        raise _invalid_type("size", "a string", size)
    if size not in sizes:
        raise _invalid_value("size", size, sizes)
    _check_reference(body, size)
    return CreateParams(prompt=prompt, model=model, seconds=seconds, size=size)


def _check_reference(body: RequestBody, size: str) -> None:
    image = body.files.get("input_reference")
    reference = body.fields.get("input_reference")
    if image is None and isinstance(reference, dict):
        url = reference.get("image_url")
        has_file = reference.get("file_id") is not None
        if (url is None) == (not has_file):
            raise ApiError(
                status=400,
                message="Invalid 'input_reference': provide exactly one of 'image_url' "
                "or 'file_id'.",
                param="input_reference",
                code="invalid_value",
            )
        if isinstance(url, str) and url.startswith("data:") and "," in url:
            try:
                image = base64.b64decode(url.split(",", 1)[1], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _bad_image() from exc
    elif image is None and reference is not None:
        raise ApiError(
            status=400,
            message=f"Invalid type for 'input_reference': expected a file or an object, "
            f"but got {_type_name(reference)} instead.",
            param="input_reference",
            code="invalid_type",
        )
    if image is None:
        return
    try:
        with Image.open(io.BytesIO(image)) as opened:
            width, height = opened.size
    except (UnidentifiedImageError, OSError) as exc:
        raise _bad_image() from exc
    if f"{width}x{height}" != size:
        raise ApiError(
            status=400,
            message="Inpaint image must match the requested width and height",
            param="input_reference",
            code="invalid_value",
        )


def _bad_image() -> ApiError:
    return ApiError(
        status=400,
        message="Invalid 'input_reference': the file could not be read as an image.",
        param="input_reference",
        code="invalid_image",
    )


def source_video_id(body: RequestBody) -> str | None:
    """The ``video`` reference of an edit or extension: ``{"id": …}``; ``None`` for an upload."""
    if "video" in body.files:
        return None
    video = body.fields.get("video")
    if isinstance(video, dict) and isinstance(video.get("id"), str):
        return str(video["id"])
    if isinstance(video, str) and video.startswith("video_"):
        return video
    raise ApiError(
        status=400,
        message="Missing required parameter: 'video'."
        if video is None
        else "Invalid 'video': expected a file or an object with an 'id'.",
        param="video",
        code="missing_required_parameter" if video is None else "invalid_value",
    )
