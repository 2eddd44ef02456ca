"""Handlers of ``POST /v1/responses`` and ``POST /v1/moderations``: deterministic stand-ins.

Neither runs a model. A response's text is a function of ``(model, instructions, input)`` only: a
shot description that quotes the input verbatim and adds camera, lighting and sound details
chosen by a hash of the three. A moderation flags an input when it contains one of the trigger
words in :data:`TRIGGERS` (whole words, case-insensitive) and nothing else, so tests can
predict every answer. Both answer in the shapes the official ``openai`` SDK parses.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import JSONResponse, Response

from reelforge.sim.protocol import ApiError, RequestBody, read_body
from reelforge.sim.videos import Ctx

__all__ = [
    "MODERATION_CATEGORIES",
    "MODERATION_MODELS",
    "TRIGGERS",
    "describe_shot",
    "moderate_text",
    "moderations",
    "responses",
]

MODERATION_MODELS = (
    "omni-moderation-latest",
    "omni-moderation-2024-09-26",
    "text-moderation-latest",
    "text-moderation-stable",
)
"""Models ``/v1/moderations`` accepts; the first is the default when ``model`` is left out."""

MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

TRIGGERS: Mapping[str, tuple[str, ...]] = {
    "massacre": ("violence",),
    "murder": ("violence",),
    "gore": ("violence", "violence/graphic"),
    "dismembered": ("violence", "violence/graphic"),
    "pipe bomb": ("illicit", "illicit/violent"),
    "cocaine": ("illicit",),
    "suicide": ("self-harm",),
    "pornographic": ("sexual",),
    "nude": ("sexual",),
    "subhuman": ("hate",),
    "worthless idiot": ("harassment",),
}
"""Trigger word or phrase → the categories it flags (matched as whole words, any case)."""


def _trigger_re(word: str) -> re.Pattern[str]:
    spaced = r"\s+".join(re.escape(part) for part in word.split())
    return re.compile(rf"\b{spaced}\b", re.IGNORECASE)


_TRIGGER_RES = {word: _trigger_re(word) for word in TRIGGERS}
_IMAGE_CATEGORIES = frozenset(
    {
        "self-harm",
        "self-harm/instructions",
        "self-harm/intent",
        "sexual",
        "violence",
        "violence/graphic",
    }
)
"""Categories the live model also scores for images."""
_RESPONSE_MODEL_RE = re.compile(r"^(gpt-|chatgpt-|o\d)")

_CAMERAS = (
    "a slow dolly-in at eye level",
    "a handheld tracking shot following the subject",
    "a locked-off wide shot on a tripod",
    "a low-angle crane move rising to reveal the scene",
    "a gentle orbit around the subject on a gimbal",
    "a 50 mm close-up with shallow depth of field",
)
_LIGHTS = (
    "warm golden-hour sunlight with soft lens flare",
    "cool overcast daylight, even and diffused",
    "high-key studio lighting on a seamless white backdrop",
    "neon signage reflecting on wet pavement at night",
    "a single window as key light with gentle falloff",
    "crisp morning light with long shadows",
)
_SOUNDS = (
    "a light acoustic guitar bed under natural room tone",
    "ambient city hum with distant traffic",
    "an upbeat synth-pop track, no vocals",
    "soft piano and the subtle sounds of the setting",
    "birdsong and a breeze through leaves",
    "a punchy percussive beat that lands on the final frame",
)


def _missing(param: str) -> ApiError:
    return ApiError(
        status=400,
        message=f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def _invalid(param: str, message: str, code: str = "invalid_type") -> ApiError:
    return ApiError(status=400, message=message, param=param, code=code)


def _model_not_found(ctx: Ctx, model: str) -> ApiError:
    return ApiError(
        status=ctx.sim.config.unknown_model_status,
        message=f"The model '{model}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def _digest(*parts: str) -> bytes:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8"))
        hasher.update(b"\x00")
    return hasher.digest()


def describe_shot(model: str, instructions: str | None, text: str) -> str:
    """The response text for ``text``: the input verbatim plus hash-chosen shot details."""
    digest = _digest(model, instructions or "", text)
    camera = _CAMERAS[digest[0] % len(_CAMERAS)]
    light = _LIGHTS[digest[1] % len(_LIGHTS)]
    sound = _SOUNDS[digest[2] % len(_SOUNDS)]
    scene = text.strip()
    if scene and not scene.endswith((".", "!", "?")):
        scene += "."
    return f"Single continuous shot. {scene} Camera: {camera}. Lighting: {light}. Sound: {sound}."


def moderate_text(text: str) -> tuple[str, ...]:
    """The categories ``text`` is flagged for, in :data:`MODERATION_CATEGORIES` order."""
    hit = {
        category
        for word, pattern in _TRIGGER_RES.items()
        if pattern.search(text)
        for category in TRIGGERS[word]
    }
    return tuple(category for category in MODERATION_CATEGORIES if category in hit)


def _input_text(value: object, param: str) -> str:
    """The text of a Responses ``input``: a string, or messages whose parts are ``input_text``."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _invalid(
            param, f"Invalid type for '{param}': expected a string or an array of input items."
        )
    texts: list[str] = []
    for index, item in enumerate(value):
        where = f"{param}[{index}]"
        if not isinstance(item, dict):
            raise _invalid(where, f"Invalid type for '{where}': expected an object.")
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        if not isinstance(content, list):
            raise _missing(f"{where}.content")
        for number, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") in ("input_text", "output_text"):
                texts.append(str(part.get("text", "")))
            elif not isinstance(part, dict) or "type" not in part:
                spot = f"{where}.content[{number}]"
                raise _invalid(spot, f"Invalid type for '{spot}': expected an object.")
    return "\n".join(texts)


def _model(body: RequestBody, *, default: str | None) -> str:
    model = body.fields.get("model")
    if model is None:
        if default is None:
            raise _missing("model")
        return default
    if not isinstance(model, str):
        raise _invalid("model", "Invalid type for 'model': expected a string.")
    return model


def _usage(text_in: str, text_out: str) -> dict[str, Any]:
    # A rough four-characters-per-token estimate: enough for clients that read usage.
    tokens_in = max(1, len(text_in) // 4)
    tokens_out = max(1, len(text_out) // 4)
    return {
        "input_tokens": tokens_in,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": tokens_out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": tokens_in + tokens_out,
    }


async def responses(ctx: Ctx) -> Response:
    """``POST /v1/responses`` (non-streaming): one assistant message with a shot description."""
    body = await read_body(ctx.request)
    model = _model(body, default=None)
    if not _RESPONSE_MODEL_RE.match(model):
        raise _model_not_found(ctx, model)
    if "input" not in body.fields or body.fields["input"] is None:
        raise _missing("input")
    instructions = body.fields.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise _invalid("instructions", "Invalid type for 'instructions': expected a string.")
    if body.fields.get("stream"):
        raise _invalid(
            "stream", "The simulator does not stream responses.", code="unsupported_value"
        )
    text = _input_text(body.fields["input"], "input")
    output = describe_shot(model, instructions, text)
    now = int(ctx.now)
    return JSONResponse(
        {
            "id": f"resp_{uuid.uuid4().hex}",
            "object": "response",
            "created_at": now,
            "completed_at": now,
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "instructions": instructions,
            "max_output_tokens": body.fields.get("max_output_tokens"),
            "model": model,
            "output": [
                {
                    "id": f"msg_{uuid.uuid4().hex}",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": output, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": _usage(text + (instructions or ""), output),
            "user": None,
            "metadata": {},
        }
    )


def _moderation_inputs(value: object) -> list[str | None]:
    """Each input's text; ``None`` for an image (never flagged here)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise _invalid(
            "input",
            "Invalid type for 'input': expected a string, an array of strings or an array of "
            "multi-modal inputs.",
        )
    texts: list[str | None] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) and item.get("type") == "text":
            texts.append(str(item.get("text", "")))
        elif isinstance(item, dict) and item.get("type") == "image_url":
            texts.append(None)
        else:
            raise _invalid(
                f"input[{index}]",
                f"Invalid value for 'input[{index}]': expected a string, a text input or an "
                "image_url input.",
                code="invalid_value",
            )
    return texts


def _applied_types(category: str, *, image: bool) -> list[str]:
    if not image:
        return ["text"]
    return ["image"] if category in _IMAGE_CATEGORIES else []


def _moderation_result(text: str | None, model: str) -> dict[str, Any]:
    flagged = moderate_text(text) if text is not None else ()
    digest = _digest(model, text or "")
    scores: dict[str, float] = {}
    for index, category in enumerate(MODERATION_CATEGORIES):
        noise = digest[index % len(digest)] / 255
        scores[category] = round(0.9 + 0.09 * noise, 6) if category in flagged else noise * 1e-4
    return {
        "flagged": bool(flagged),
        "categories": {category: category in flagged for category in MODERATION_CATEGORIES},
        "category_scores": scores,
        "category_applied_input_types": {
            category: _applied_types(category, image=text is None)
            for category in MODERATION_CATEGORIES
        },
    }


async def moderations(ctx: Ctx) -> Response:
    """``POST /v1/moderations``: one result per input, flagged by :data:`TRIGGERS`."""
    body = await read_body(ctx.request)
    model = _model(body, default=MODERATION_MODELS[0])
    if model not in MODERATION_MODELS:
        raise _model_not_found(ctx, model)
    if "input" not in body.fields or body.fields["input"] is None:
        raise _missing("input")
    inputs: Sequence[str | None] = _moderation_inputs(body.fields["input"])
    return JSONResponse(
        {
            "id": f"modr-{uuid.uuid4().hex}",
            "model": model,
            "results": [_moderation_result(text, model) for text in inputs],
        }
    )
