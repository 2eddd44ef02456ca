"""The prompt writer: a short ad prompt in, a richer single-shot video description out.

::

    writer = PromptWriter(client, cache=PromptCache())
    shots = await writer.write_many(plan_prompts, concurrency=4)

It asks a Responses model (``client.responses.create``) once per distinct prompt. With a
:class:`PromptCache`, an answer is kept on disk under the SHA-256 of ``(model, instructions,
input)``, so a re-run of the same campaign costs no requests. SDK errors become
:class:`~reelforge.core.errors.ProviderError` subclasses whose messages never contain the key;
an empty answer is a :class:`~reelforge.core.errors.ProtocolError`, never an empty prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reelforge.compliance.moderation import provider_error
from reelforge.core.errors import ProtocolError, ReelforgeError

if TYPE_CHECKING:
    import openai

__all__ = [
    "DEFAULT_PROMPT_CACHE",
    "DEFAULT_WRITER_INSTRUCTIONS",
    "DEFAULT_WRITER_MODEL",
    "PromptCache",
    "PromptWriter",
]

DEFAULT_WRITER_MODEL = "gpt-5-mini"
DEFAULT_PROMPT_CACHE = Path(".reelforge") / "prompt-cache"
"""Where :class:`PromptCache` keeps its files by default (relative to the working directory)."""
DEFAULT_WRITER_INSTRUCTIONS = (
    "You turn a short video advertisement prompt into one richer description of a single "
    "continuous shot for a video-generation model. Keep every brand name, product name and "
    "product fact from the prompt exactly as written. Describe the subject, the setting, the "
    "action, the camera framing and movement, the lighting and the sound in concrete, visual "
    "terms. Add no claims, prices, offers, statistics, health or performance promises, on-screen "
    "text, other brands, real people or copyrighted characters that the prompt does not already "
    "contain. Answer with the description only: one paragraph of at most 120 words."
)
_CACHE_VERSION = 1
_ACTION = "prompt writing"


def cache_key(model: str, instructions: str, prompt: str) -> str:
    """The SHA-256 hex that names a cached answer: unambiguous over the three strings."""
    payload = json.dumps([model, instructions, prompt], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class PromptCache:
    """Written prompts on disk: one small JSON file per ``(model, instructions, input)``.

    Files are written to a temporary name and moved into place, so a reader never sees half a
    file. A file that cannot be read, is not valid JSON or does not match its key is ignored (and
    overwritten by the next write).
    """

    def __init__(self, root: Path | str = DEFAULT_PROMPT_CACHE) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The file of ``key``."""
        return self.root / f"{key}.json"

    def get(self, model: str, instructions: str, prompt: str) -> str | None:
        """The cached description, or ``None`` when there is no usable entry."""
        key = cache_key(model, instructions, prompt)
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        expected = {
            "version": _CACHE_VERSION,
            "model": model,
            "instructions": instructions,
            "input": prompt,
        }
        if any(data.get(name) != value for name, value in expected.items()):
            return None
        output = data.get("output")
        if not isinstance(output, str) or not output.strip():
            return None
        return output

    def put(self, model: str, instructions: str, prompt: str, output: str) -> Path:
        """Store ``output`` atomically; returns the file written."""
        key = cache_key(model, instructions, prompt)
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.path(key)
        record = {
            "version": _CACHE_VERSION,
            "key": key,
            "model": model,
            "instructions": instructions,
            "input": prompt,
            "output": output,
        }
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{key[:12]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(record, file, ensure_ascii=False, indent=1)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return target


class PromptWriter:
    """Rewrites ad prompts into single-shot video descriptions through ``client.responses``."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str = DEFAULT_WRITER_MODEL,
        instructions: str = DEFAULT_WRITER_INSTRUCTIONS,
        cache: PromptCache | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.instructions = instructions
        self.cache = cache

    async def write(self, prompt: str) -> str:
        """The description of ``prompt``: from the cache if there, else one request."""
        if self.cache is not None:
            cached = await asyncio.to_thread(self.cache.get, self.model, self.instructions, prompt)
            if cached is not None:
                return cached
        import openai  # noqa: PLC0415  # on first use: a large import

        try:
            response = await self.client.responses.create(
                model=self.model, instructions=self.instructions, input=prompt
            )
        except openai.APIError as exc:
            raise provider_error(exc, secret=self.client.api_key, action=_ACTION) from exc
        text = response.output_text.strip()
        if not text:
            raise ProtocolError(
                f"{_ACTION}: model {self.model!r} answered no text for the prompt "
                f"{_preview(prompt)!r}",
                request_id=getattr(response, "_request_id", None),
            )
        if self.cache is not None:
            await asyncio.to_thread(self.cache.put, self.model, self.instructions, prompt, text)
        return text

    async def write_many(self, prompts: Sequence[str], *, concurrency: int = 4) -> list[str]:
        """Every prompt's description, in order; each distinct prompt is written once.

        At most ``concurrency`` requests run at once. The first error stops the rest and is
        raised as it is (a :class:`~reelforge.core.errors.ReelforgeError`).
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        distinct = list(dict.fromkeys(prompts))
        written: dict[str, str] = {}
        gate = asyncio.Semaphore(concurrency)

        async def one(prompt: str) -> None:
            async with gate:
                written[prompt] = await self.write(prompt)

        try:
            async with asyncio.TaskGroup() as group:
                for prompt in distinct:
                    group.create_task(one(prompt))
        except BaseExceptionGroup as failed:
            first = _first_error(failed)
            if first is None:
                raise
            raise first from first.__cause__
        return [written[prompt] for prompt in prompts]


def _first_error(group: BaseExceptionGroup[BaseException]) -> ReelforgeError | None:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            nested = _first_error(exc)
            if nested is not None:
                return nested
        elif isinstance(exc, ReelforgeError):
            return exc
    return None


def _preview(prompt: str, limit: int = 60) -> str:
    flat = " ".join(prompt.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
