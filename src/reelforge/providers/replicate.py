"""Replicate's predictions API (``api.replicate.com``), the ``replicate`` provider.

* submit: ``POST /v1/models/{owner}/{name}/predictions`` with ``{"input": …}`` built by
  :func:`~reelforge.providers.inputs.model_input` from the catalog (``owner/name:<version>``
  goes to ``POST /v1/predictions`` with that version). ``cancel_after`` is sent as
  ``Cancel-After`` (``1h30m``), so Replicate stops a job that outlives its timeout itself.
  With ``REELFORGE_PUBLIC_URL`` set, the create names a ``webhook``
  (``<public>/hooks/replicate?token=<job token>``, ``completed`` events only). ``Prefer: wait``
  is never sent: a video never finishes within a held request, and sync mode may inline output.
* A create is paid and Replicate has no idempotency key: it is retried only when nothing can
  have been created (no connection, or a 429, which Replicate answers before creating). Any
  other failure after sending — a 5xx, a timeout, an unreadable 201 — raises
  :class:`AmbiguousSubmissionError` after exactly one request; the engine reconciles by
  listing (``list_recent`` yields each prediction's ``input`` for exact matching).
* 429s wait for ``retry-after`` when sent, else for ``ratelimit-reset``.
* Statuses: ``starting`` → queued, ``processing`` → in progress, ``succeeded`` → completed
  (expired when ``data_removed`` or no output: the files are gone), ``failed`` → failed
  (content policy for Replicate's sensitive-content refusal, E005, else generation failed),
  ``canceled`` → canceled, except when its ``Cancel-After`` deadline stopped it (failed,
  timeout); ``aborted`` (the deadline passed before it started, not charged) → failed,
  timeout. Any other word is a job still running; ``provider_status`` keeps it.
* Completed outputs expire an hour after completion (``expires_at``), so the engine downloads
  at once. The file lives on Replicate's CDN: the API token is never sent there.
* Thumbnails and spritesheets are not served (the engine derives them); ``delete`` cancels an
  unfinished prediction and is :class:`UnsupportedOperationError` for a finished one (Replicate
  has no delete for API predictions; their data is removed after an hour anyway).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from reelforge.core.capabilities import ModelCapabilities, capabilities_for, validate_spec
from reelforge.core.clock import Clock, SystemClock
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
from reelforge.providers._errors import Endpoint, Site, VideoNotReadyError
from reelforge.providers._http import Call, CallKind, Session, checked_base_url
from reelforge.providers._replicate_wire import (
    PROVIDER,
    ListPage,
    Prediction,
    cancel_after_header,
    parse_list,
    parse_prediction,
    problem_reader,
)
from reelforge.providers._retry import RetryPolicy
from reelforge.providers._wire import id_problem, id_segment, shown_id
from reelforge.providers.inputs import model_input

__all__ = ["DEFAULT_BASE_URL", "ReplicateProvider"]

DEFAULT_BASE_URL = "https://api.replicate.com"
_MAX_PAGES = 1000
_MODEL_RE_PARTS = 2


class ReplicateProvider:
    """A :class:`~reelforge.providers.Provider` for Replicate's predictions API.

    The caller owns ``client``. ``api_token`` goes as ``Authorization: Bearer``, only to
    ``base_url``'s origin. ``public_url`` (``REELFORGE_PUBLIC_URL``) makes creates ask for a
    completion webhook. Time and jitter are injected so tests never wait.
    """

    name = PROVIDER

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_token: SecretStr | str | None = None,
        public_url: str | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        max_asset_bytes: int = DEFAULT_MAX_ASSET_BYTES,
    ) -> None:
        if max_asset_bytes < 1:
            raise ConfigError("max_asset_bytes must be at least 1")
        secret = api_token.get_secret_value() if isinstance(api_token, SecretStr) else api_token
        url = checked_base_url(base_url, what="the Replicate base URL")
        site = Site(base_url=url, secret=secret or None)
        self._max_asset_bytes = max_asset_bytes
        self._public_url = public_url.strip().rstrip("/") if public_url else None
        self._session = Session(
            client,
            site=site,
            retry=retry or RetryPolicy(),
            clock=clock or SystemClock(),
            rng=rng or random.Random(),
            auth_scheme="Bearer",
            error_reader=problem_reader(site),
            provider=self.name,
        )

    @property
    def base_url(self) -> str:
        """Where requests go (without credentials)."""
        return self._session.site.display_url

    @property
    def webhooks(self) -> bool:
        """Whether creates ask Replicate for a completion webhook (a public URL is set)."""
        return self._public_url is not None

    def __repr__(self) -> str:
        return f"ReplicateProvider(base_url={self.base_url!r})"

    def capabilities(self, model: str) -> ModelCapabilities:
        """What ``model`` accepts, from the Replicate catalog (others pass through)."""
        return capabilities_for(model, PROVIDER)

    async def submit(
        self, spec: JobSpec, *, token: str | None = None, cancel_after: float | None = None
    ) -> RemoteStatus:
        """Create a prediction (a paid request; see the module docstring for retries)."""
        spec = validate_spec(spec)
        body: dict[str, object] = {
            "input": model_input(spec, capabilities_for(spec.model, PROVIDER))
        }
        path, version = _create_path(spec.model)
        if version is not None:
            body["version"] = version
        if self._public_url is not None:
            query = f"?{urlencode({'token': token})}" if token else ""
            body["webhook"] = f"{self._public_url}/hooks/replicate{query}"
            body["webhook_events_filter"] = ["completed"]
        headers = {}
        if cancel_after is not None:
            headers["Cancel-After"] = cancel_after_header(cancel_after)
        call = Call(
            method="POST",
            path=path,
            kind=CallKind.CREATE,
            endpoint=Endpoint.COLLECTION,
            label="create a prediction",
            model=spec.model,
            json=body,
            headers=headers,
        )
        prediction = await self._session.call(call, parse_prediction)
        return prediction.status

    async def _get(self, remote_id: str) -> Prediction:
        remote_id = _caller_id(remote_id)
        call = Call(
            method="GET",
            path=f"/v1/predictions/{id_segment(remote_id)}",
            kind=CallKind.READ,
            endpoint=Endpoint.ITEM,
            label=f"fetch prediction {shown_id(remote_id)}",
        )
        prediction = await self._session.call(call, parse_prediction)
        if prediction.status.remote_id != remote_id:
            other = self._session.site.clean(shown_id(prediction.status.remote_id))
            raise ProtocolError(
                f"fetch prediction {shown_id(remote_id)}: the server answered with "
                f"prediction {other}",
                provider=PROVIDER,
                request_id=prediction.status.request_id,
            )
        return prediction

    async def fetch(self, remote_id: str) -> RemoteStatus:
        """The prediction's current status."""
        return (await self._get(remote_id)).status

    async def list_recent(self, *, since: float | None = None) -> AsyncIterator[RemoteStatus]:
        """Predictions newest first, created at or after ``since`` (``created_after``), every
        page. ``next`` links are followed only on the base URL's own origin, at most
        1000 pages, never the same one twice."""
        params = None
        if since is not None:
            stamp = datetime.fromtimestamp(since - 1, tz=UTC).isoformat().replace("+00:00", "Z")
            params = {"created_after": stamp}
        path = "/v1/predictions"
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            page = await self._page(path, params)
            for item in page.items:
                created = item.status.created_at
                if since is None or created is None or created >= since:
                    yield item.status
            if page.next_url is None:
                return
            target = self._session.url(page.next_url)
            if not page.next_url.startswith(("http://", "https://", "/")):
                raise ProtocolError(
                    "list predictions: the next link is not a URL", provider=PROVIDER
                )
            if not self._session.same_origin(target):
                raise ProtocolError(
                    "list predictions: the next link leaves the API's origin; not followed",
                    provider=PROVIDER,
                )
            if target in seen:
                raise ProtocolError(
                    "list predictions: the next link repeats a page", provider=PROVIDER
                )
            seen.add(target)
            path, params = target, None
        raise ProtocolError(
            f"list predictions: more than {_MAX_PAGES} pages; stopped", provider=PROVIDER
        )

    async def _page(self, path: str, params: dict[str, str] | None) -> ListPage:
        call = Call(
            method="GET",
            path=path,
            kind=CallKind.READ,
            endpoint=Endpoint.COLLECTION,
            label="list predictions",
            params=params,
        )
        return await self._session.call(call, parse_list)

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
        """Download the prediction's video (its output URL) to ``dest``: resumable, verified.

        :class:`AssetExpiredError` once Replicate removed the files; a
        :class:`VideoNotReadyError` while it runs, :class:`NotFoundError` when it ended
        without a video. Thumbnails and spritesheets are not served:
        :class:`UnsupportedOperationError` (``operation="variant:<name>"``)."""
        variant = Variant(variant)
        label = f"download the {variant.value} of prediction {shown_id(remote_id)}"
        if variant is not Variant.VIDEO:
            raise UnsupportedOperationError(
                f"{label}: Replicate serves only the model's output (the video)",
                operation=f"variant:{variant.value}",
                provider=PROVIDER,
            )
        prediction = await self._get(remote_id)
        url = self._file_url(prediction, label, dest)
        try:
            return await download_asset(
                self._session,
                remote_id=remote_id,
                variant=variant,
                dest=dest,
                max_bytes=self._max_asset_bytes,
                url=url,
            )
        except NotFoundError as exc:
            # The file vanished: ask the prediction whether Replicate removed its data.
            self._file_url(await self._get(remote_id), label, dest)
            raise exc

    def _file_url(self, prediction: Prediction, label: str, dest: Path) -> str:
        status = prediction.status
        if status.state is RemoteState.EXPIRED:
            dest.with_name(dest.name + ".part").unlink(missing_ok=True)
            reason = status.error.message if status.error else "the files were removed"
            raise AssetExpiredError(f"{label}: {reason}")
        if status.state is not RemoteState.COMPLETED or prediction.output_url is None:
            cls = NotFoundError if status.state.is_terminal else VideoNotReadyError
            raise cls(
                f"{label} failed: the prediction is {status.provider_status}, not succeeded",
                provider=PROVIDER,
            )
        return prediction.output_url

    async def delete(self, remote_id: str) -> None:
        """Cancel an unfinished prediction. A finished one cannot be deleted (Replicate has no
        delete for API predictions): :class:`UnsupportedOperationError` (``delete``)."""
        remote_id = _caller_id(remote_id)
        call = Call(
            method="POST",
            path=f"/v1/predictions/{id_segment(remote_id)}/cancel",
            kind=CallKind.READ,  # canceling twice is canceling once
            endpoint=Endpoint.ITEM,
            label=f"cancel prediction {shown_id(remote_id)}",
        )
        prediction = await self._session.call(call, parse_prediction)
        status = prediction.status
        if status.state is RemoteState.CANCELED or not status.state.is_terminal:
            return
        raise UnsupportedOperationError(
            f"prediction {shown_id(remote_id)} had already ended "
            f"({status.provider_status}); Replicate cannot delete a finished prediction "
            "(it removes its data about an hour after completion)",
            operation="delete",
            provider=PROVIDER,
        )


def _create_path(model: str) -> tuple[str, str | None]:
    """Where a create goes: the model's own predictions (official models), or
    ``/v1/predictions`` with the version for ``owner/name:<version>``."""
    name, _, version = model.partition(":")
    parts = name.split("/")
    if len(parts) != _MODEL_RE_PARTS or any(
        id_problem(part) or part in (".", "..") for part in parts
    ):
        raise InvalidSpecError(
            f"model {model!r} is not a Replicate model name (owner/name)",
            field="model",
            value=model,
        )
    if version:
        return "/v1/predictions", model
    owner, model_name = (quote(part, safe="") for part in parts)
    return f"/v1/models/{owner}/{model_name}/predictions", None


def _caller_id(remote_id: str) -> str:
    """A caller's prediction id, checked before it goes into a URL (percent-encoded)."""
    problem = id_problem(remote_id) if isinstance(remote_id, str) else "it is not a string"
    if problem:
        raise ProtocolError(
            f"not a valid prediction id: {problem}; nothing was sent",
            provider=PROVIDER,
            category=ErrorCategory.INVALID_REQUEST,
        )
    return remote_id
