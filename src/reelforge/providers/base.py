"""The small interface every provider adapter implements; the engine knows nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from reelforge.core.capabilities import ModelCapabilities
from reelforge.core.models import DownloadResult, JobSpec, RemoteStatus, Variant

__all__ = ["Provider", "PushesCompletions"]


@runtime_checkable
class Provider(Protocol):
    """A video-generation API, seen through normalized types.

    Every method raises only :class:`reelforge.ReelforgeError` subclasses.
    """

    name: str

    @property
    def base_url(self) -> str:
        """Where requests go (without credentials), for messages."""
        ...

    def capabilities(self, model: str) -> ModelCapabilities:
        """What ``model`` accepts on this provider."""
        ...

    async def submit(
        self, spec: JobSpec, *, token: str | None = None, cancel_after: float | None = None
    ) -> RemoteStatus:
        """Create the job (a paid request). Never retried when the outcome is unknown:
        raises :class:`reelforge.AmbiguousSubmissionError` instead.

        ``token`` is the job's idempotency token: an adapter that can carry it (metadata, a
        webhook URL's query, a header) does, and echoes it back in
        :attr:`RemoteStatus.token` when the provider returns it, so reconciliation can match
        on it. ``cancel_after`` is how long the job may take (seconds): an adapter whose
        provider can stop a job itself at a deadline (Replicate's ``Cancel-After``) sends
        it."""
        ...

    async def fetch(self, remote_id: str) -> RemoteStatus:
        """The job's current status."""
        ...

    def list_recent(self, *, since: float | None = None) -> AsyncIterator[RemoteStatus]:
        """The account's jobs, newest first, created at or after ``since`` (all pages).

        Raises :class:`reelforge.UnsupportedOperationError` (``operation="list"``) when the
        endpoint cannot list (a gateway answering 400/404/405/501)."""
        ...

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
        """Stream one asset to ``dest`` (via ``dest.part``, resumable, verified, atomic).

        Raises :class:`reelforge.AssetMismatchError` when what arrived is not ``variant``
        (nothing is left at ``dest``), and :class:`reelforge.UnsupportedOperationError`
        (``operation="variant:<name>"``) when the endpoint refuses to serve the variant."""
        ...

    async def delete(self, remote_id: str) -> None:
        """Delete the job and its assets on the provider; :class:`UnsupportedOperationError`
        (``operation="delete"``) when the endpoint has no delete (405/501)."""
        ...


@runtime_checkable
class PushesCompletions(Protocol):
    """An adapter that can say whether its provider pushes job completions to reelforge's
    webhook receiver (``reelforge serve``). When it does, the engine polls its jobs only as a
    slow safety net (:attr:`reelforge.PollPolicy.safety_net`) and relies on the receiver to
    wake a job's workflow when the job ends."""

    @property
    def webhooks(self) -> bool:
        """Whether completions of this adapter's jobs are pushed to the receiver."""
        ...
