"""Runway's API (``api.dev.runwayml.com``), the ``runway`` provider.

* Every request carries ``Authorization: Bearer <RUNWAYML_API_SECRET>`` and
  ``X-Runway-Version: 2024-11-06`` (Runway refuses a request without a version).
* submit: ``POST /v1/image_to_video`` when the job has an image, else
  ``POST /v1/text_to_video``, with the catalog's camelCase body (``model``, ``promptText``,
  ``ratio`` as ``"W:H"`` pixels, ``duration``, ``audio``, ``seed``, ``negativePrompt``,
  ``promptImage``; a local image goes inline as a ``data:`` URL of at most 5 MB). The answer
  is ``{"id": "<uuid>"}``.
* A create is paid and Runway has no idempotency key (its SDK retries POSTs; this adapter does
  not): it is retried only when nothing can have been created (no connection, or a 429). Any
  other failure after sending raises :class:`AmbiguousSubmissionError` after exactly one
  request. Runway cannot list tasks (``list_recent`` is unsupported), so the engine sends such
  a job to review.
* Statuses: ``PENDING`` and ``THROTTLED`` → queued (``provider_status`` keeps which),
  ``RUNNING`` → in progress (``progress`` times 100, at most 99), ``SUCCEEDED`` → completed,
  ``FAILED`` → failed (content policy for safety and moderation failure codes, else generation
  failed, with Runway's ``failure`` message), ``CANCELLED`` → canceled. Another word is a task
  still running.
* download: the task's ``output[0]``, a signed URL that expires; each read of the task signs a
  fresh one. The file host gets no API key. When it refuses the URL (401/403: expired), the task
  is read again and the download resumes from the ``.part`` file with ``Range``, a bounded
  number of times. Thumbnails and spritesheets are not served (the engine derives them).
* delete: ``DELETE /v1/tasks/{id}`` cancels an unfinished task and deletes a finished one.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from pydantic import SecretStr

from reelforge.core.capabilities import ModelCapabilities, capabilities_for, validate_spec
from reelforge.core.clock import Clock, SystemClock
from reelforge.core.errors import (
    AssetExpiredError,
    ConfigError,
    DownloadError,
    ErrorCategory,
    InvalidSpecError,
    NotFoundError,
    ProtocolError,
    UnsupportedOperationError,
)
from reelforge.core.models import DownloadResult, JobSpec, RemoteState, RemoteStatus, Variant
from reelforge.providers._download import DEFAULT_MAX_ASSET_BYTES, download_asset
from reelforge.providers._errors import Endpoint, Site, VideoNotReadyError
from reelforge.providers._http import Call, CallKind, Session, checked_base_url
from reelforge.providers._retry import RetryPolicy
from reelforge.providers._runway_wire import (
    PROVIDER,
    RUNWAY_VERSION,
    OutputUrlRefusedError,
    Task,
    error_reader,
    parse_created,
    parse_task,
)
from reelforge.providers._wire import id_problem, id_segment, shown_id
from reelforge.providers.inputs import model_input

__all__ = ["DEFAULT_BASE_URL", "MAX_INLINE_IMAGE_BYTES", "RunwayProvider"]

DEFAULT_BASE_URL = "https://api.dev.runwayml.com"
DEFAULT_URL_REFRESHES = 3
MAX_INLINE_IMAGE_BYTES = 5 * 1024 * 1024
"""Largest ``promptImage`` sent as a ``data:`` URL (Runway takes data URIs up to 5 MB)."""
"""How many times a download reads the task again for a fresh URL after the file host refused
one (an expired signature)."""


class _RunwaySession(Session):
    """A session whose every request names Runway's API version."""

    def headers(self, accept: str) -> dict[str, str]:
        headers = super().headers(accept)
        headers["X-Runway-Version"] = RUNWAY_VERSION
        return headers


class RunwayProvider:
    """A :class:`~reelforge.providers.Provider` for Runway's tasks API.

    The caller owns ``client``. ``api_secret`` goes as ``Authorization: Bearer``, only to
    ``base_url``'s origin (never to the file host). Time and jitter are injected so tests never
    wait.
    """

    name = PROVIDER

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_secret: SecretStr | str | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        max_asset_bytes: int = DEFAULT_MAX_ASSET_BYTES,
        url_refreshes: int = DEFAULT_URL_REFRESHES,
    ) -> None:
        if max_asset_bytes < 1:
            raise ConfigError("max_asset_bytes must be at least 1")
        if url_refreshes < 0:
            raise ConfigError("url_refreshes must not be negative")
        secret = api_secret.get_secret_value() if isinstance(api_secret, SecretStr) else api_secret
        url = checked_base_url(base_url, what="the Runway base URL")
        site = Site(base_url=url, secret=secret or None)
        self._max_asset_bytes = max_asset_bytes
        self._url_refreshes = url_refreshes
        self._session = _RunwaySession(
            client,
            site=site,
            retry=retry or RetryPolicy(),
            clock=clock or SystemClock(),
            rng=rng or random.Random(),
            auth_scheme="Bearer",
            error_reader=error_reader(site),
            provider=self.name,
        )

    @property
    def base_url(self) -> str:
        """Where requests go (without credentials)."""
        return self._session.site.display_url

    def __repr__(self) -> str:
        return f"RunwayProvider(base_url={self.base_url!r})"

    def capabilities(self, model: str) -> ModelCapabilities:
        """What ``model`` accepts, from the Runway catalog (others pass through)."""
        return capabilities_for(model, PROVIDER)

    async def submit(
        self, spec: JobSpec, *, token: str | None = None, cancel_after: float | None = None
    ) -> RemoteStatus:
        """Create a task (a paid request; see the module docstring for retries).

        Runway takes no metadata and no deadline: ``token`` and ``cancel_after`` are not sent
        (the engine enforces its timeout by deleting the task)."""
        spec = validate_spec(spec)
        body = model_input(spec, capabilities_for(spec.model, PROVIDER))
        prompt = body.pop("prompt")
        image = body.get("promptImage")
        if (
            isinstance(image, str)
            and image.startswith("data:")
            and len(image) > MAX_INLINE_IMAGE_BYTES
        ):
            raise InvalidSpecError(
                f"image is {len(image)} bytes as a data URL; Runway takes at most "
                f"{MAX_INLINE_IMAGE_BYTES} inline (give an https URL instead)",
                field="image",
                value=spec.image,
            )
        body = {"model": spec.model, "promptText": prompt, **body}
        route = "image_to_video" if spec.image is not None else "text_to_video"
        call = Call(
            method="POST",
            path=f"/v1/{route}",
            kind=CallKind.CREATE,
            endpoint=Endpoint.COLLECTION,
            label=f"create a {route.replace('_', '-')} task",
            model=spec.model,
            json=body,
        )
        remote_id = await self._session.call(call, parse_created)
        return RemoteStatus(
            remote_id=remote_id,
            state=RemoteState.QUEUED,
            model=spec.model,
            seconds=spec.seconds,
            prompt=spec.prompt,
            created_at=self._session.clock.now(),
            provider_status="PENDING",
        )

    async def _get(self, remote_id: str) -> Task:
        remote_id = _caller_id(remote_id)
        call = Call(
            method="GET",
            path=f"/v1/tasks/{id_segment(remote_id)}",
            kind=CallKind.READ,
            endpoint=Endpoint.ITEM,
            label=f"fetch task {shown_id(remote_id)}",
        )
        task = await self._session.call(call, parse_task)
        if task.status.remote_id != remote_id:
            other = self._session.site.clean(shown_id(task.status.remote_id))
            raise ProtocolError(
                f"fetch task {shown_id(remote_id)}: the server answered with task {other}",
                provider=PROVIDER,
                request_id=task.status.request_id,
            )
        return task

    async def fetch(self, remote_id: str) -> RemoteStatus:
        """The task's current status."""
        return (await self._get(remote_id)).status

    async def list_recent(self, *, since: float | None = None) -> AsyncIterator[RemoteStatus]:
        """Unsupported: Runway cannot list an account's tasks."""
        raise UnsupportedOperationError(
            "Runway cannot list tasks: a submission whose answer was lost cannot be looked up",
            operation="list",
            provider=PROVIDER,
        )
        yield  # an async generator, like every list_recent  # pragma: no cover

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
        """Download the task's video (``output[0]``) to ``dest``: resumable, verified.

        An output URL the file host refuses (expired) is replaced by a fresh one from the task
        and the transfer resumes, at most ``url_refreshes`` times; then :class:`DownloadError`
        (the bytes received stay for a later call). :class:`VideoNotReadyError` while the task
        runs, :class:`NotFoundError` when it ended without a video. Thumbnails and spritesheets:
        :class:`UnsupportedOperationError` (``operation="variant:<name>"``)."""
        variant = Variant(variant)
        label = f"download the {variant.value} of task {shown_id(remote_id)}"
        if variant is not Variant.VIDEO:
            raise UnsupportedOperationError(
                f"{label}: Runway serves only the task's output (the video)",
                operation=f"variant:{variant.value}",
                provider=PROVIDER,
            )
        refused: OutputUrlRefusedError | None = None
        for _ in range(self._url_refreshes + 1):
            url = _file_url(await self._get(remote_id), label, dest)
            try:
                return await download_asset(
                    self._session,
                    remote_id=remote_id,
                    variant=variant,
                    dest=dest,
                    max_bytes=self._max_asset_bytes,
                    url=url,
                )
            except OutputUrlRefusedError as exc:
                refused = exc
        raise DownloadError(
            f"{label}: the file host refused {self._url_refreshes + 1} output URLs in a row, "
            "each fresh from the task; the bytes received are kept for a later resume"
        ) from refused

    async def delete(self, remote_id: str) -> None:
        """Cancel an unfinished task, or delete a finished one (``DELETE /v1/tasks/{id}``)."""
        remote_id = _caller_id(remote_id)
        call = Call(
            method="DELETE",
            path=f"/v1/tasks/{id_segment(remote_id)}",
            kind=CallKind.READ,  # canceling or deleting twice is doing it once
            endpoint=Endpoint.ITEM,
            label=f"delete task {shown_id(remote_id)}",
            gone_ok_after_drop=True,
            empty_ok=True,
        )
        await self._session.call(call, _ignore_body)


def _ignore_body(data: object, headers: httpx.Headers) -> None:
    """A delete's answer: 204 without a body (any JSON body is not read)."""


def _file_url(task: Task, label: str, dest: Path) -> str:
    status = task.status
    if status.state is RemoteState.EXPIRED:
        dest.with_name(dest.name + ".part").unlink(missing_ok=True)
        reason = status.error.message if status.error else "the task lists no output"
        raise AssetExpiredError(f"{label}: {reason}")
    if status.state is not RemoteState.COMPLETED or task.output_url is None:
        cls = NotFoundError if status.state.is_terminal else VideoNotReadyError
        raise cls(
            f"{label} failed: the task is {status.provider_status}, not SUCCEEDED",
            provider=PROVIDER,
        )
    return task.output_url


def _caller_id(remote_id: str) -> str:
    """A caller's task id, checked before it goes into a URL (percent-encoded)."""
    problem = id_problem(remote_id) if isinstance(remote_id, str) else "it is not a string"
    if problem:
        raise ProtocolError(
            f"not a valid task id: {problem}; nothing was sent",
            provider=PROVIDER,
            category=ErrorCategory.INVALID_REQUEST,
        )
    return remote_id
