"""fal's queue API (``https://queue.fal.run``) as a :class:`~reelforge.providers.Provider`.

* **submit** POSTs the model input (:func:`reelforge.providers.inputs.model_input`) to the full
  endpoint id (``/fal-ai/veo3.1/fast``), with ``?fal_webhook=`` when a public URL is set. A
  submit is paid and fal has no idempotency key, so it is never resent once it may have reached
  fal: a timeout, a dropped connection, any 5xx (fal's ingress answers 502 after creating
  the job) or a success that cannot be read raise :class:`AmbiguousSubmissionError`. A 429
  proves nothing was queued and is retried.
* The **remote id** is ``<owner>/<app>/requests/<request_id>``, taken from the
  ``response_url`` fal returned (which must be on the base URL's origin and match the
  ``status_url`` and ``cancel_url``). Status, result and cancel go only to those
  ``owner/app`` paths, rebuilt from the checked id, never the long endpoint path.
* **fetch** maps ``IN_QUEUE`` to queued (``IN_QUEUE (position 3)``), ``IN_PROGRESS`` to in
  progress, ``COMPLETED`` to completed — unless it carries an ``error``: then failed, with the
  category of its ``error_type`` (``content_policy_violation`` → content policy;
  ``request_timeout``/``startup_timeout`` → timeout; ``runner_*`` and others → generation
  failed), or canceled for a cancelled request. An unknown status keeps the job in progress.
* **list_recent** is unsupported: fal cannot list requests.
* **download** reads the result and fetches its ``video.url`` (a CDN file: resumable, verified;
  the key goes only to the base URL's origin). Thumbnails and spritesheets are unsupported
  (the engine derives them from the video).
* **delete** cancels: a queued request is removed, a running one is asked to stop. A request
  fal reports ``ALREADY_COMPLETED`` is looked at: cancelled or failed is fine; completed is an
  :class:`InvalidRequestError` (``already_completed``) — it is paid for and its video stays.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from reelforge.core.capabilities import ModelCapabilities, capabilities_for, validate_spec
from reelforge.core.clock import Clock, SystemClock
from reelforge.core.errors import (
    ConfigError,
    InvalidRequestError,
    InvalidSpecError,
    UnsupportedOperationError,
)
from reelforge.core.models import DownloadResult, JobSpec, RemoteState, RemoteStatus, Variant
from reelforge.providers._download import DEFAULT_MAX_ASSET_BYTES, download_asset
from reelforge.providers._errors import Endpoint, Site
from reelforge.providers._fal_wire import (
    PROVIDER,
    Clean,
    FalErrorReader,
    FalIds,
    endpoint_problem,
    fal_request_id,
    parse_output_url,
    parse_remote_id,
    parse_status,
    parse_submit,
    queued_label,
)
from reelforge.providers._http import Call, CallKind, Session, checked_base_url
from reelforge.providers._retry import RetryPolicy
from reelforge.providers.inputs import model_input

__all__ = ["DEFAULT_QUEUE_URL", "FalProvider"]

DEFAULT_QUEUE_URL = "https://queue.fal.run"
_URLS = ("response_url", "status_url", "cancel_url")
WEBHOOK_PATH = "/hooks/fal"
"""Where reelforge's public URL receives fal's webhooks (``?token=<job token>``)."""


class FalProvider:
    """A :class:`~reelforge.providers.Provider` for fal's queue API.

    The caller owns ``client``. ``api_key`` is fal's key (``key_id:key_secret``), sent as
    ``Authorization: Key …`` and never shown. ``public_url`` (reelforge's own, reachable by
    fal) turns on webhooks. Time and jitter are injected as in the OpenAI adapter.
    """

    name = PROVIDER

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_QUEUE_URL,
        api_key: SecretStr | str | None = None,
        public_url: str | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        max_asset_bytes: int = DEFAULT_MAX_ASSET_BYTES,
    ) -> None:
        if max_asset_bytes < 1:
            raise ConfigError("max_asset_bytes must be at least 1")
        self._max_asset_bytes = max_asset_bytes
        secret = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        url = checked_base_url(base_url, what="the fal queue URL")
        self._public_url = public_url.rstrip("/") if public_url else None
        self._clock = clock or SystemClock()
        site = Site(base_url=url, secret=secret or None)
        self._clean = Clean(site)
        self._session = Session(
            client,
            site=site,
            retry=retry or RetryPolicy(),
            clock=self._clock,
            rng=rng or random.Random(),
            auth_scheme="Key",
            error_reader=FalErrorReader(site),
            provider=self.name,
        )

    @property
    def base_url(self) -> str:
        """The queue URL requests go to (without credentials)."""
        return self._session.site.display_url

    @property
    def webhooks(self) -> bool:
        """Whether submissions ask fal for a webhook (a public URL is set)."""
        return self._public_url is not None

    def __repr__(self) -> str:
        return f"FalProvider(base_url={self.base_url!r})"

    def capabilities(self, model: str) -> ModelCapabilities:
        """What the endpoint ``model`` accepts (the fal catalog; others pass through)."""
        return capabilities_for(model, provider=PROVIDER)

    def _webhook(self, token: str | None) -> str | None:
        if self._public_url is None:
            return None
        url = f"{self._public_url}{WEBHOOK_PATH}"
        return f"{url}?token={quote(token, safe='')}" if token else url

    async def submit(
        self,
        spec: JobSpec,
        *,
        token: str | None = None,
        cancel_after: float | None = None,
    ) -> RemoteStatus:
        """Queue the job at its endpoint (a paid request; see the module docstring for when
        it is retried). ``token`` rides in the webhook URL when webhooks are on; ``cancel_after``
        is not sent: fal has no deadline for a whole job (``X-Fal-Request-Timeout`` bounds only
        the wait for a runner), so the engine's own timeout cancels it."""
        spec = validate_spec(spec)
        problem = endpoint_problem(spec.model)
        if problem is not None:
            raise InvalidSpecError(
                f"model {spec.model!r} is not a fal endpoint id: {problem}",
                field="model",
                value=spec.model,
            )
        caps = self.capabilities(spec.model)
        body = await asyncio.to_thread(model_input, spec, caps)
        webhook = self._webhook(token)
        call = Call(
            method="POST",
            path=f"/{spec.model}",
            kind=CallKind.CREATE,
            endpoint=Endpoint.COLLECTION,
            label=f"submit to {spec.model}",
            model=spec.model,
            json=body,
            params={"fal_webhook": webhook} if webhook else None,
        )
        session = self._session

        def parse(data: object, headers: httpx.Headers) -> RemoteStatus:
            urls = [data.get(name) for name in _URLS] if isinstance(data, dict) else []
            same = all(isinstance(url, str) and _same_origin(session, url) for url in urls)
            ids, position = parse_submit(
                data, site_url=session.site.base_url, same_origin=same, endpoint_id=spec.model
            )
            return RemoteStatus(
                remote_id=ids.remote_id,
                state=RemoteState.QUEUED,
                model=spec.model,
                seconds=spec.seconds,
                size=spec.size,
                prompt=spec.prompt,
                created_at=self._clock.now(),
                request_id=fal_request_id(headers) or ids.request_id,
                provider_status=queued_label(position),
                token=token if webhook else None,
            )

        return await session.call(call, parse)

    async def fetch(self, remote_id: str) -> RemoteStatus:
        """The request's status (at ``owner/app/requests/<id>/status``)."""
        ids = parse_remote_id(remote_id)
        call = Call(
            method="GET",
            path=ids.path("status"),
            kind=CallKind.READ,
            endpoint=Endpoint.ITEM,
            label=f"fetch fal request {ids.request_id}",
            params={"logs": "1"},  # a model's log lines often say how far it is
        )

        def parse(data: object, headers: httpx.Headers) -> RemoteStatus:
            return parse_status(data, headers, ids, self._clean)

        return await self._session.call(call, parse)

    async def list_recent(self, *, since: float | None = None) -> AsyncIterator[RemoteStatus]:
        """Unsupported: fal's queue cannot list an account's requests."""
        raise UnsupportedOperationError(
            "fal cannot list requests: a submission whose answer was lost cannot be looked up",
            operation="list",
            provider=PROVIDER,
        )
        yield  # an async generator, like every list_recent  # pragma: no cover

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
        """Fetch the video of a completed request (its result's ``video.url``) to ``dest``."""
        ids = parse_remote_id(remote_id)
        variant = Variant(variant)
        if variant is not Variant.VIDEO:
            raise UnsupportedOperationError(
                f"fal serves no {variant.value} of a video (reelforge derives it from the video)",
                operation=f"variant:{variant.value}",
                provider=PROVIDER,
            )
        url = await self._result_url(ids)
        return await download_asset(
            self._session,
            remote_id=remote_id,
            variant=variant,
            dest=dest,
            max_bytes=self._max_asset_bytes,
            url=url,
        )

    async def _result_url(self, ids: FalIds) -> str:
        call = Call(
            method="GET",
            path=ids.path(),
            kind=CallKind.READ,
            endpoint=Endpoint.CONTENT,
            label=f"read the result of fal request {ids.request_id}",
        )
        return await self._session.call(call, lambda data, _: parse_output_url(data))

    async def delete(self, remote_id: str) -> None:
        """Cancel the request (fal deletes nothing; its files expire on their own)."""
        ids = parse_remote_id(remote_id)
        call = Call(
            method="PUT",
            path=ids.path("cancel"),
            kind=CallKind.READ,  # idempotent: a repeated cancel changes nothing more
            endpoint=Endpoint.ITEM,
            label=f"cancel fal request {ids.request_id}",
        )
        try:
            await self._session.call(call, lambda data, _: None)
        except InvalidRequestError as exc:
            if exc.code != "already_completed":
                raise
            status = await self.fetch(remote_id)
            if status.state is not RemoteState.COMPLETED:
                return  # cancelled (perhaps by an earlier attempt) or failed: nothing runs
            raise InvalidRequestError(
                f"cancel fal request {ids.request_id}: it had already completed (it is paid "
                "for; its video stays available)",
                provider=PROVIDER,
                status_code=exc.status_code,
                request_id=exc.request_id,
                code="already_completed",
            ) from exc


def _same_origin(session: Session, url: str) -> bool:
    try:
        return session.same_origin(url)
    except httpx.InvalidURL:
        return False
