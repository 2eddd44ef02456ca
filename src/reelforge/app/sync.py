"""Synchronous wrappers for scripts that do not run an event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from reelforge.app.forge import Forge
from reelforge.app.generate import GenerateResult
from reelforge.core.models import JobSpec

__all__ = ["generate"]


def generate(
    prompt: str,
    *,
    model: str = "sora-2",
    seconds: int = 4,
    size: str = "720x1280",
    input_reference: Path | None = None,
    labels: Mapping[str, str] | None = None,
    out: Path = Path("reelforge-out"),
    base_url: str | None = None,
    simulator: bool | None = None,
) -> GenerateResult:
    """Generate one video and download its assets; blocks until done or failed.

    With no ``OPENAI_API_KEY`` and no ``base_url``, runs against the built-in simulator.
    """
    spec = JobSpec(
        prompt=prompt,
        model=model,
        seconds=seconds,
        size=size,
        input_reference=input_reference,
        labels=labels or {},
    )

    async def _run() -> GenerateResult:
        async with Forge(base_url=base_url, simulator=simulator, out=out) as forge:
            return await forge.generate(spec)

    return asyncio.run(_run())
