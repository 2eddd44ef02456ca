"""The OpenAI Videos protocol (``/v1/videos``) at any base URL.

OpenAI's own hosted API was shut down on 2026-09-24; gateways serve the same protocol for other
models, so the base URL is always configurable.

Retry and ambiguity rules (see :mod:`reelforge.providers._http` for the mechanics):

* Reads (fetch, list, content, delete) retry connection failures, timeouts, dropped connections,
  5xx and 429 with exponential backoff and jitter, honouring ``retry-after-ms`` / ``Retry-After``
  up to :attr:`RetryPolicy.max_retry_after` (a longer wait raises at once).
* Creates (:meth:`~OpenAIVideosProvider.submit`, :meth:`~OpenAIVideosProvider.remix`) are paid and
  the protocol has no idempotency key, so they are retried only when nothing can have been
  created: the connection was never established (``ConnectError``, ``ConnectTimeout``, pool
  timeout) or the server answered 429. A timeout, a dropped connection or a write failure after
  the request went out, any 5xx, a 408, and a success whose body cannot be read all raise
  :class:`AmbiguousSubmissionError` after exactly one request, and the engine reconciles by
  listing. That includes **503**: a load balancer's 503 usually means the request was not
  processed, but a gateway also answers 503 when its upstream timed out after accepting the
  job, and nothing in the response tells the two apart. Other 4xx are final.

Gateways (LiteLLM's proxy first) serve the protocol with differences the adapter absorbs:

* Ids are opaque, up to 1,024 printable characters (LiteLLM's are about 240, base64 with
  ``+ / =``), percent-encoded as one path segment in every URL, never a path on disk.
* The request id is ``x-request-id``, else the gateway's own ``x-litellm-call-id``.
* An upstream error object written inside the gateway's ``error.message`` is unwrapped: its
  message, param and code are the error's.
* Operations a gateway does not offer raise :class:`UnsupportedOperationError` after one
  request: list answered 400/404/405/501 (a bare 404 page still means the API is gone), delete
  answered 405/501, a thumbnail or spritesheet answered 400/404/405/415/501 while the video
  is completed.
* A variant answered with another kind of media (the MP4 for the thumbnail) raises
  :class:`AssetMismatchError`; ``DownloadResult.range_supported`` says whether ``Range`` was
  honoured.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from pydantic import SecretStr

from reelforge.core.capabilities import ModelCapabilities, capabilities_for, validate_spec
from reelforge.core.clock import Clock, SystemClock
from reelforge.core.config import DEFAULT_BASE_URL
from reelforge.core.errors import (
    AssetExpiredError,
    ConfigError,
    ErrorCategory,
    InvalidSpecError,
    NotFoundError,
    ProtocolError,
    UnsupportedOperationError,
)
from reelforge.core.models import DownloadResult, JobSpec, RemoteState, RemoteStatus, Variant
from reelforge.providers._download import DEFAULT_MAX_ASSET_BYTES, download_asset
from reelforge.providers._errors import Endpoint, OptionalOperation, Site, VideoNotReadyError
from reelforge.providers._http import Call, CallKind, Session, checked_base_url
from reelforge.providers._retry import RetryPolicy
from reelforge.providers._wire import (
    ListPage,
    id_problem,
    id_segment,
    parse_deleted,
    parse_list_page,
    parse_video,
    shown_id,
)

__all__ = ["OpenAIVideosProvider"]

_IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
_MAX_REFERENCE_BYTES = 20 * 1024 * 1024
_PAGE_SIZE = "100"
_MAX_PAGES = 10_000
_LIST = OptionalOperation(
    operation="list", action="list videos", statuses=frozenset({400, 404, 405, 501})
)
"""Gateways often cannot list (LiteLLM answers 400 "LLM Provider NOT provided")."""
_DELETE = OptionalOperation(
    operation="delete", action="delete videos", statuses=frozenset({405, 501})
)
"""LiteLLM answers 405 Method Not Allowed. A 404 still means the video is not there."""
_VARIANTS = {
    variant: OptionalOperation(
        operation=f"variant:{variant.value}",
        action=f"serve the {variant.value} of a video",
        statuses=frozenset({400, 404, 405, 415, 501}),
    )
    for variant in (Variant.THUMBNAIL, Variant.SPRITESHEET)
}
"""A 404 saying "not ready" or "expired" still means that (see ``_errors``)."""


class OpenAIVideosProvider:
    """A :class:`~reelforge.providers.Provider` for the OpenAI Videos protocol.

    The caller owns ``client`` (its timeouts, limits, proxies and lifetime); the adapter sends
    absolute URLs under ``base_url`` and its own ``Authorization`` and ``User-Agent`` headers.
    ``api_key`` may be ``None`` for a server that needs none. Time (``clock``: ``now`` and
    ``sleep``) and jitter (``rng``) are injected so tests never wait. ``max_asset_bytes`` caps
    each downloaded asset (4 GiB by default). ``webhooks`` says that the endpoint's project
    sends ``video.completed`` / ``video.failed`` to reelforge's receiver (configured on the
    provider's side, not per request): its jobs are then polled only as a safety net.
    """

    name = "openai"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: SecretStr | str | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        max_asset_bytes: int = DEFAULT_MAX_ASSET_BYTES,
        webhooks: bool = False,
    ) -> None:
        if max_asset_bytes < 1:
            raise ConfigError("max_asset_bytes must be at least 1")
        self._max_asset_bytes = max_asset_bytes
        self._webhooks = webhooks
        secret = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        url = checked_base_url(base_url, what="the base URL")
        self._clock = clock or SystemClock()
        self._session = Session(
            client,
            site=Site(base_url=url, secret=secret or None),
            retry=retry or RetryPolicy(),
            clock=self._clock,
            rng=rng or random.Random(),
            provider=self.name,
        )

    @property
    def base_url(self) -> str:
        """The base URL requests go to (without credentials)."""
        return self._session.site.display_url

    @property
    def webhooks(self) -> bool:
        """Whether the endpoint pushes completions to reelforge's receiver."""
        return self._webhooks

    def __repr__(self) -> str:
        return f"OpenAIVideosProvider(base_url={self.base_url!r})"

    def capabilities(self, model: str) -> ModelCapabilities:
        """What ``model`` accepts; unknown (gateway) models pass through unchecked."""
        return capabilities_for(model)

    async def submit(
        self, spec: JobSpec, *, token: str | None = None, cancel_after: float | None = None
    ) -> RemoteStatus:
        """Create a video (a paid request; see the module docstring for when it is retried).

        Sends JSON, or multipart/form-data with an ``input_reference`` file part when the spec
        has a reference image. Raises :class:`InvalidSpecError` before sending anything if the
        spec breaks its model's capabilities.

        ``token`` and ``cancel_after`` are accepted and not sent: this protocol cannot carry
        them. A create has no metadata field (only ``model``, ``prompt``,
        ``input_reference``, ``seconds`` and ``size``), no idempotency header and no webhook
        URL of its own, and a Video object echoes nothing back but those. So
        :attr:`RemoteStatus.token` is always ``None`` here, and reconciliation after an
        ambiguous create falls back to matching on what the server echoes (model, size,
        seconds, creation time, and the prompt where it is returned; LiteLLM's proxy does not
        return it).
        """
        spec = validate_spec(spec)
        fields = {
            "prompt": spec.prompt,
            "model": spec.model,
            "seconds": str(spec.seconds),
            "size": spec.size,
        }
        reference = spec.input_reference
        files = await asyncio.to_thread(_reference_part, reference) if reference else None
        call = Call(
            method="POST",
            path="/videos",
            kind=CallKind.CREATE,
            endpoint=Endpoint.COLLECTION,
            label="create a video",
            model=spec.model,
            json=fields if files is None else None,
            data=fields if files is not None else None,
            files=files,
        )
        return await self._session.call(call, parse_video)

    async def remix(self, remote_id: str, prompt: str) -> RemoteStatus:
        """Create a new video from a completed one with a changed prompt (a paid request)."""
        remote_id = _caller_id(remote_id)
        if not prompt.strip():
            raise InvalidSpecError("prompt is empty", field="prompt", value=prompt)
        call = Call(
            method="POST",
            path=f"/videos/{id_segment(remote_id)}/remix",
            kind=CallKind.CREATE,
            endpoint=Endpoint.ITEM,
            label=f"remix video {shown_id(remote_id)}",
            json={"prompt": prompt},
        )
        return await self._session.call(call, parse_video)

    async def fetch(self, remote_id: str) -> RemoteStatus:
        """The job's current status, with the server's poll hint and request id."""
        remote_id = _caller_id(remote_id)
        call = Call(
            method="GET",
            path=f"/videos/{id_segment(remote_id)}",
            kind=CallKind.READ,
            endpoint=Endpoint.ITEM,
            label=f"fetch video {shown_id(remote_id)}",
        )
        status = await self._session.call(call, parse_video)
        if status.remote_id != remote_id:
            other = self._session.site.clean(shown_id(status.remote_id))
            raise ProtocolError(
                f"fetch video {shown_id(remote_id)}: the server answered with video {other}",
                request_id=status.request_id,
            )
        return status

    async def list_recent(self, *, since: float | None = None) -> AsyncIterator[RemoteStatus]:
        """Every job, newest first, created at or after ``since`` (Unix seconds), all pages.

        Pages are requested with ``order=desc`` and followed with ``after=<last_id>`` while
        ``has_more``; listing stops at the first job older than ``since``. A server that ignores
        ``order`` (a page that is not newest-first) is still read to the end, filtered.
        """
        after: str | None = None
        seen_cursors: set[str] = set()
        ordered = True
        previous: float | None = None
        for _ in range(_MAX_PAGES):
            page = await self._page(after)
            times = [item.created_at for item in page.items if item.created_at is not None]
            if previous is not None:
                times.insert(0, previous)
            if any(later > earlier for earlier, later in itertools.pairwise(times)):
                ordered = False  # not newest-first: read everything, filter each job
            previous = times[-1] if times else previous
            for status in page.items:
                if (
                    since is not None
                    and status.created_at is not None
                    and status.created_at < since
                ):
                    if ordered:
                        return
                    continue
                yield status
            if not page.has_more:
                return
            if page.last_id is None or page.last_id in seen_cursors:
                raise ProtocolError("list videos: has_more is set but the cursor did not advance")
            seen_cursors.add(page.last_id)
            after = page.last_id

    async def _page(self, after: str | None) -> ListPage:
        params = {"order": "desc", "limit": _PAGE_SIZE}
        if after is not None:
            params["after"] = after
        call = Call(
            method="GET",
            path="/videos",
            kind=CallKind.READ,
            endpoint=Endpoint.COLLECTION,
            label="list videos",
            params=params,
            optional=_LIST,
        )
        return await self._session.call(call, parse_list_page)

    async def delete(self, remote_id: str) -> None:
        """Delete the job and its assets. A retry that finds the job already gone succeeds."""
        remote_id = _caller_id(remote_id)
        call = Call(
            method="DELETE",
            path=f"/videos/{id_segment(remote_id)}",
            kind=CallKind.READ,
            endpoint=Endpoint.ITEM,
            label=f"delete video {shown_id(remote_id)}",
            gone_ok_after_drop=True,
            optional=_DELETE,
        )

        def parse(data: object, headers: httpx.Headers) -> None:
            if data is not None:
                parse_deleted(data, remote_id)

        await self._session.call(call, parse)

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
        """Stream one asset to ``dest`` via ``dest.part``: resumable, hashed, fsynced, atomic.

        Raises :class:`VideoNotReadyError` (a :class:`NotFoundError`) while the video is not
        ready, and :class:`AssetExpiredError` once its assets have expired. The asset must be
        the media of its variant (MP4 that decodes, WebP, JPEG), served as its content type, and
        at most ``max_asset_bytes``. Another kind of media (the MP4 a gateway sends for the
        thumbnail) raises :class:`AssetMismatchError` and leaves nothing behind. A thumbnail or
        spritesheet the endpoint refuses (400/404/405/415/501) while the video is completed
        raises :class:`UnsupportedOperationError` (``operation="variant:thumbnail"``…). Anything
        else, a broken transfer or a full disk included, raises a one-line
        :class:`DownloadError` (or another :class:`~reelforge.core.errors.ReelforgeError`).
        ``DownloadResult.range_supported`` says whether a resume's ``Range`` was honoured.
        """
        remote_id = _caller_id(remote_id)
        variant = Variant(variant)
        label = f"download the {variant.value} of video {shown_id(remote_id)}"
        try:
            return await download_asset(
                self._session,
                remote_id=remote_id,
                variant=variant,
                dest=dest,
                max_bytes=self._max_asset_bytes,
                optional=None if variant is Variant.VIDEO else _VARIANTS[variant],
            )
        except VideoNotReadyError:
            raise
        except UnsupportedOperationError as exc:
            # Only a completed video proves it is the variant, not the job, that is missing.
            status = await self._expired_or(remote_id, dest, label, exc)
            if status.state is RemoteState.COMPLETED:
                raise
            cls = NotFoundError if status.state.is_terminal else VideoNotReadyError
            raise cls(
                f"{label} failed: the video is {status.state.value}, not completed",
                status_code=exc.status_code,
                request_id=exc.request_id,
            ) from exc
        except NotFoundError as exc:
            if type(exc) is not NotFoundError:
                raise
            # A bare 404: ask the job itself whether its assets expired.
            await self._expired_or(remote_id, dest, label, exc)
            raise

    async def _expired_or(
        self, remote_id: str, dest: Path, label: str, cause: Exception
    ) -> RemoteStatus:
        """The job's status; :class:`AssetExpiredError` (from ``cause``) if its assets expired."""
        status = await self.fetch(remote_id)
        expires_at = status.expires_at
        if status.state is RemoteState.EXPIRED or (
            expires_at is not None and expires_at <= self._clock.now()
        ):
            dest.with_name(dest.name + ".part").unlink(missing_ok=True)
            raise AssetExpiredError(f"{label}: the assets expired") from cause
        return status


def _caller_id(remote_id: str) -> str:
    """A caller-supplied id, checked like a server's before it goes into a URL (where it is
    percent-encoded: it is opaque, ``/`` and ``+`` included).

    Raises :class:`ProtocolError` with category ``invalid_request`` (retrying cannot help),
    saying what is wrong without repeating the id.
    """
    if not isinstance(remote_id, str):
        problem = f"it is a {type(remote_id).__name__}, not a string"
    else:
        problem = id_problem(remote_id) or ""
    if problem:
        raise ProtocolError(
            f"not a valid video id: {problem}; nothing was sent",
            category=ErrorCategory.INVALID_REQUEST,
        )
    return remote_id


def _reference_part(path: Path) -> dict[str, tuple[str, bytes, str]]:
    """The multipart file part for a reference image, its type guessed from the suffix."""
    media_type = _IMAGE_TYPES.get(path.suffix.lower())
    if media_type is None:
        raise InvalidSpecError(
            f"input reference {path.name} must be a {', '.join(sorted(_IMAGE_TYPES))} image",
            field="input_reference",
            value=str(path),
            allowed=sorted(_IMAGE_TYPES),
        )
    try:
        size = path.stat().st_size
        if size > _MAX_REFERENCE_BYTES:
            raise InvalidSpecError(
                f"input reference {path.name} is {size} bytes; at most "
                f"{_MAX_REFERENCE_BYTES} allowed",
                field="input_reference",
                value=str(path),
            )
        content = path.read_bytes()
    except OSError as exc:
        raise InvalidSpecError(
            f"input reference {path.name} cannot be read: {exc.strerror}",
            field="input_reference",
            value=str(path),
        ) from exc
    return {"input_reference": (path.name, content, media_type)}
