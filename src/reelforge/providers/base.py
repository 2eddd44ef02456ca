"""The small interface every provider adapter implements; the engine knows nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from reelforge.core.capabilities import ModelCapabilities
from reelforge.core.models import DownloadResult, JobSpec, RemoteStatus, Variant

__all__ = ["Provider"]


@runtime_checkable
class Provider(Protocol):
    """A video-generation API, seen through normalized types.

    Every method raises only :class:`reelforge.ReelforgeError` subclasses.
    """

    name: str

    def capabilities(self, model: str) -> ModelCapabilities:
        """What ``model`` accepts on this provider."""
        ...

    async def submit(self, spec: JobSpec) -> RemoteStatus:
        """Create the job (a paid request). Never retried when the outcome is unknown:
        raises :class:`reelforge.AmbiguousSubmissionError` instead."""
        ...

    async def fetch(self, remote_id: str) -> RemoteStatus:
        """The job's current status."""
        ...

    def list_recent(self, *, since: float | None = None) -> AsyncIterator[RemoteStatus]:
        """The account's jobs, newest first, created at or after ``since`` (all pages)."""
        ...

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
        """Stream one asset to ``dest`` (via ``dest.part``, resumable, verified, atomic)."""
        ...

    async def delete(self, remote_id: str) -> None:
        """Delete the job and its assets on the provider."""
        ...
