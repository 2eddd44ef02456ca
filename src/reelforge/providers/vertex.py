"""Veo on Google Cloud (Vertex AI, now "Gemini Enterprise Agent Platform"), the ``vertex``
provider.

* submit: ``POST {base}/v1/projects/{p}/locations/{l}/publishers/google/models/{model}
  :predictLongRunning`` with ``{"instances": [{prompt, image?, lastFrame?}], "parameters":
  {sampleCount: 1, …}}``: the catalog's model input (:func:`~reelforge.providers.inputs.
  model_input`), images as ``{"bytesBase64Encoded", "mimeType"}`` (or ``{"gcsUri"}`` for a
  ``gs://`` image), the rest as parameters, plus ``storageUri`` when output goes to Cloud
  Storage. The answer's operation name — checked to be for this project, location and
  model — is the remote id. Vertex has no idempotency key: a create is retried only when
  nothing can have been created (no connection, a 429, a 401 answered before the token was
  refreshed); anything else after sending raises :class:`AmbiguousSubmissionError`.
* fetch: ``POST …/models/{model}:fetchPredictOperation`` with ``{"operationName": <id>}`` on
  the model in the name. Not ``done`` → in progress (Vertex gives no progress); ``done`` with
  ``error`` → failed (code 3 invalid request, 8/429 rate limited, else generation failed);
  ``raiMediaFilteredCount > 0`` → failed, content policy, with Google's reasons; a video →
  completed. The answer is streamed and an inline video skipped (:mod:`._vertex_stream`),
  so a finished operation of any size is read in constant memory (though its bytes cross the
  network again on every fetch: Vertex has no status-only read).
* download: an inline video is decoded from a fresh ``fetchPredictOperation`` answer straight
  to ``dest.part`` as it streams (never whole in memory), checked like every download
  (:mod:`._media`) and renamed into place. A ``gs://`` video is read through Cloud Storage's
  JSON API (``/storage/v1/b/{bucket}/o/{object}?alt=media``, resumable) with the same token:
  it goes to ``https://storage.googleapis.com`` (a Google origin that takes the token's
  ``cloud-platform`` scope), or to the base URL's own origin when ``VERTEX_BASE_URL`` is set
  (the simulator, a proxy); never anywhere else. Thumbnails and spritesheets are not served.
* list and delete are :class:`UnsupportedOperationError`: Google documents neither a listing
  nor a cancel or delete of these publisher-model operations.
* Credentials are google-auth's (:mod:`._vertex_auth`): a token refreshed before it expires
  and once more when an answer is 401; it never shows in a message or a repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import mimetypes
import os
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote

import httpx

from reelforge.core.capabilities import ModelCapabilities, capabilities_for, validate_spec
from reelforge.core.clock import Clock, SystemClock
from reelforge.core.errors import (
    AuthError,
    ConfigError,
    DownloadError,
    ErrorCategory,
    InvalidSpecError,
    NotFoundError,
    ProtocolError,
    UnsupportedOperationError,
)
from reelforge.core.files import sync_directory
from reelforge.core.models import DownloadResult, JobSpec, RemoteState, RemoteStatus, Variant
from reelforge.providers._download import DEFAULT_MAX_ASSET_BYTES, download_asset
from reelforge.providers._errors import Endpoint, Site, VideoNotReadyError
from reelforge.providers._http import (
    MAX_JSON_BYTES,
    Call,
    CallKind,
    Session,
    checked_base_url,
    read_error_body,
    retryable_transport,
)
from reelforge.providers._media import check_media
from reelforge.providers._retry import RetryPolicy
from reelforge.providers._vertex_auth import GoogleCredentials, TokenSource
from reelforge.providers._vertex_stream import InlineScanner
from reelforge.providers._vertex_wire import (
    PROVIDER,
    Operation,
    OperationName,
    error_reader,
    gcs_parts,
    parse_name,
    parse_operation,
)
from reelforge.providers._wire import decode_json, shown_id
from reelforge.providers.inputs import model_input

__all__ = ["DEFAULT_LOCATION", "STORAGE_BASE_URL", "VertexProvider", "vertex_host"]

DEFAULT_LOCATION = "us-central1"
STORAGE_BASE_URL = "https://storage.googleapis.com"
_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
_GS_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,220}(?:/[^\x00-\x1f\x7f]*)?", re.ASCII)
_DATA_RE = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", re.ASCII | re.DOTALL)
_IMAGES = (("image", "image"), ("end_image", "lastFrame"))
_API_VERSION = "v1"
_SLICE = 64 * 1024

T = TypeVar("T")


def vertex_host(location: str) -> str:
    """The API host of ``location``: ``aiplatform.googleapis.com`` for ``global``, else
    ``{location}-aiplatform.googleapis.com``."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class VertexProvider:
    """A :class:`~reelforge.providers.Provider` for Veo on Vertex AI.

    The caller owns ``client`` (token requests go through it too). ``credentials`` are
    google-auth credentials with the ``cloud-platform`` scope. ``base_url`` defaults to the
    location's host; ``storage_uri`` (``gs://bucket/prefix/``) sends output to Cloud Storage.
    """

    name = PROVIDER

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        project: str,
        credentials: GoogleCredentials,
        location: str = DEFAULT_LOCATION,
        base_url: str | None = None,
        storage_uri: str | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        max_asset_bytes: int = DEFAULT_MAX_ASSET_BYTES,
    ) -> None:
        if max_asset_bytes < 1:
            raise ConfigError("max_asset_bytes must be at least 1")
        for what, value in (("project", project), ("location", location)):
            if not isinstance(value, str) or not _SEGMENT_RE.fullmatch(value):
                raise ConfigError(f"the Vertex {what} {value!r} is not a valid id")
        if storage_uri is not None and not _GS_RE.fullmatch(storage_uri):
            raise ConfigError("VERTEX_STORAGE_URI must be a gs://bucket/prefix URI")
        url = base_url.strip() if base_url else vertex_host(location)
        self._base = checked_base_url(url, what="the Vertex base URL")
        self._storage_base = self._base if base_url else STORAGE_BASE_URL
        self.project = project
        self.location = location
        self._storage_uri = storage_uri
        self._client = client
        self._retry = retry or RetryPolicy()
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._max_asset_bytes = max_asset_bytes
        self._tokens = TokenSource(credentials, client=client, clock=self._clock)
        self._sessions: dict[tuple[str, str | None], Session] = {}

    @property
    def base_url(self) -> str:
        """Where requests go (without credentials)."""
        return self._session(self._base, None).site.display_url

    @property
    def token_refreshes(self) -> int:
        """How many access tokens were fetched so far."""
        return self._tokens.refreshes

    def __repr__(self) -> str:
        return (
            f"VertexProvider(base_url={self.base_url!r}, project={self.project!r}, "
            f"location={self.location!r})"
        )

    def capabilities(self, model: str) -> ModelCapabilities:
        """What ``model`` accepts, from the Vertex catalog (others pass through)."""
        return capabilities_for(model, PROVIDER)

    def _session(self, base: str, token: str | None) -> Session:
        key = (base, token)
        session = self._sessions.get(key)
        if session is None:
            site = Site(base_url=base, secret=token)
            session = Session(
                self._client,
                site=site,
                retry=self._retry,
                clock=self._clock,
                rng=self._rng,
                auth_scheme="Bearer",
                error_reader=error_reader(site),
                provider=self.name,
            )
            self._sessions = {k: v for k, v in self._sessions.items() if k[1] == token}
            self._sessions[key] = session
        return session

    async def _authorized(self, base: str, action: Callable[[Session], Awaitable[T]]) -> T:
        """Run ``action`` with a session carrying a fresh token; once more after a 401."""
        token = await self._tokens.token()
        try:
            return await action(self._session(base, token))
        except AuthError as exc:
            if exc.status_code != 401:
                raise
        token = await self._tokens.refresh(token)
        return await action(self._session(base, token))

    def _model_path(self, model: str) -> str:
        if not _SEGMENT_RE.fullmatch(model):
            raise InvalidSpecError(
                f"model {model!r} is not a Vertex model id", field="model", value=model
            )
        return f"projects/{self.project}/locations/{self.location}/publishers/google/models/{model}"

    async def submit(
        self, spec: JobSpec, *, token: str | None = None, cancel_after: float | None = None
    ) -> RemoteStatus:
        """Start a Veo operation (a paid request; see the module docstring for retries).
        ``token`` and ``cancel_after`` have nowhere to go on Vertex."""
        spec = validate_spec(spec)
        model_path = self._model_path(spec.model)
        body = await asyncio.to_thread(self._request_body, spec)
        call = Call(
            method="POST",
            path=f"/{_API_VERSION}/{model_path}:predictLongRunning",
            kind=CallKind.CREATE,
            endpoint=Endpoint.COLLECTION,
            label="start a Veo operation",
            model=spec.model,
            json=body,
        )

        def parse(data: object, headers: httpx.Headers) -> RemoteStatus:
            name = parse_name(data.get("name") if isinstance(data, dict) else None)
            if name is None:
                raise ProtocolError("the answer has no valid operation name", provider=PROVIDER)
            if name.model_path != model_path:
                raise ProtocolError(
                    f"the answer names an operation of another model or project "
                    f"({shown_id(name.model_path)})",
                    provider=PROVIDER,
                )
            return RemoteStatus(
                remote_id=name.name,
                state=RemoteState.QUEUED,
                model=spec.model,
                prompt=spec.prompt,
                provider_status="running",
            )

        return await self._authorized(self._base, lambda session: session.call(call, parse))

    def _request_body(self, spec: JobSpec) -> dict[str, Any]:
        gcs = {field: getattr(spec, field) for field, _ in _IMAGES}
        gcs = {k: v for k, v in gcs.items() if isinstance(v, str) and v.startswith("gs://")}
        plain = dataclasses.replace(
            spec,
            image=None if "image" in gcs else spec.image,
            end_image=None if "end_image" in gcs else spec.end_image,
        )
        flat = model_input(plain, capabilities_for(spec.model, PROVIDER))
        instance: dict[str, Any] = {"prompt": flat.pop("prompt")}
        for field, wire in _IMAGES:
            if field in gcs:
                uri = gcs[field]
                mime = mimetypes.guess_type(uri)[0] or "image/png"
                instance[wire] = {"gcsUri": uri, "mimeType": mime}
            elif wire in flat:
                instance[wire] = _inline_image(flat.pop(wire), field)
        parameters: dict[str, Any] = {"sampleCount": 1, **flat}
        if self._storage_uri is not None:
            parameters["storageUri"] = self._storage_uri
        return {"instances": [instance], "parameters": parameters}

    def _name(self, remote_id: str) -> OperationName:
        name = parse_name(remote_id)
        if name is None or name.project != self.project or name.location != self.location:
            raise ProtocolError(
                f"{shown_id(str(remote_id))} is not an operation of project {self.project} "
                f"in {self.location}; nothing was sent",
                provider=PROVIDER,
                category=ErrorCategory.INVALID_REQUEST,
            )
        return name

    async def fetch(self, remote_id: str) -> RemoteStatus:
        """The operation's current status."""
        return (await self._operation(self._name(remote_id), None)).status

    async def _operation(self, name: OperationName, part: _InlinePart | None) -> Operation:
        label = f"fetch operation {shown_id(name.name)}"

        async def attempt(session: Session) -> Operation:
            return await self._stream_operation(session, name, part, label)

        return await self._authorized(self._base, attempt)

    async def _stream_operation(
        self, session: Session, name: OperationName, part: _InlinePart | None, label: str
    ) -> Operation:
        call = Call(
            method="POST",
            path=f"/{_API_VERSION}/{name.model_path}:fetchPredictOperation",
            kind=CallKind.READ,
            endpoint=Endpoint.ITEM,
            label=label,
            json={"operationName": name.name},
        )
        failures = 0
        while True:
            request = session.client.build_request(
                "POST", session.url(call.path), json=call.json, headers=session.headers("*/*")
            )
            try:
                response = await session.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                failures += 1
                if not retryable_transport(exc) or failures >= session.retry.max_attempts:
                    raise session.transport_error(exc, label, failures) from exc
                await session.pause(failures, None)
                continue
            try:
                if response.is_success:
                    operation = await self._read(session, response, part, label)
                    if operation.status.remote_id != name.name:
                        raise ProtocolError(
                            f"{label}: the server answered with another operation",
                            provider=PROVIDER,
                        )
                    return operation
                body = await read_error_body(response)
            except httpx.HTTPError as exc:
                failures += 1
                if failures >= session.retry.max_attempts:
                    raise session.transport_error(exc, label, failures) from exc
                await session.pause(failures, None)
                continue
            finally:
                await response.aclose()
            failures += 1
            await session.retry_or_raise(
                call, session.response_error(call, response, body), failures
            )

    async def _read(
        self,
        session: Session,
        response: httpx.Response,
        part: _InlinePart | None,
        label: str,
    ) -> Operation:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise ProtocolError(f"{label}: the answer is encoded ({encoding[:40]})")
        if part is not None:
            part.reset()
        scanner = InlineScanner(
            part.write if part is not None else None,
            max_skeleton=MAX_JSON_BYTES,
            max_video=self._max_asset_bytes,
            label=label,
        )
        async for chunk in _raw_chunks(response):
            scanner.feed(chunk)
        redactor = session.site.redactor
        skeleton = redactor.raw(scanner.finish())
        data = redactor.json(decode_json(skeleton, what=label))
        try:
            operation = parse_operation(data, session.answer_headers(response))
        except ProtocolError as exc:
            raise ProtocolError(
                f"{label}: {exc.message}", provider=PROVIDER, status_code=response.status_code
            ) from None
        if operation.inline and part is not None and scanner.inline_count != 1:
            raise ProtocolError(f"{label}: the inline video is missing", provider=PROVIDER)
        return operation

    async def list_recent(self, *, since: float | None = None) -> AsyncIterator[RemoteStatus]:
        """Not offered: Vertex documents no listing of publisher-model operations."""
        raise UnsupportedOperationError(
            "Vertex offers no listing of Veo operations", operation="list", provider=PROVIDER
        )
        yield  # pragma: no cover  # makes this an async generator

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
        """Write the operation's video to ``dest`` (see the module docstring)."""
        variant = Variant(variant)
        label = f"download the {variant.value} of operation {shown_id(str(remote_id))}"
        if variant is not Variant.VIDEO:
            raise UnsupportedOperationError(
                f"{label}: Vertex serves only the video",
                operation=f"variant:{variant.value}",
                provider=PROVIDER,
            )
        name = self._name(remote_id)
        part_path = dest.with_name(dest.name + ".part")
        with _InlinePart(part_path) as part:
            try:
                operation = await self._operation(name, part)
            except BaseException:
                part.discard()
                raise
            status = operation.status
            if status.state is not RemoteState.COMPLETED:
                part.discard()
                cls = NotFoundError if status.state.is_terminal else VideoNotReadyError
                raise cls(
                    f"{label} failed: the operation is {status.provider_status}, not done",
                    provider=PROVIDER,
                )
            if operation.inline:
                return await part.finish(dest, label, operation.mime_type)
            part.discard()
        assert operation.gcs_uri is not None  # parse_operation guarantees it
        bucket, obj = gcs_parts(operation.gcs_uri)
        url = (
            f"{self._storage_base}/storage/v1/b/{quote(bucket, safe='')}/o/"
            f"{quote(obj, safe='')}?alt=media"
        )

        async def fetch_file(session: Session) -> DownloadResult:
            return await download_asset(
                session,
                remote_id=remote_id,
                variant=variant,
                dest=dest,
                max_bytes=self._max_asset_bytes,
                url=url,
            )

        return await self._authorized(self._storage_base, fetch_file)

    async def delete(self, remote_id: str) -> None:
        """Not offered: Google documents no cancel or delete of Veo operations."""
        raise UnsupportedOperationError(
            f"Vertex cannot cancel or delete operation {shown_id(str(remote_id))}",
            operation="delete",
            provider=PROVIDER,
        )


async def _raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body as it arrives (or, read already by an in-memory transport, in slices)."""
    if response.is_stream_consumed:
        content = response.content
        for start in range(0, len(content), _SLICE):
            yield content[start : start + _SLICE]
        return
    async for chunk in response.aiter_raw():
        yield chunk


def _inline_image(value: object, field: str) -> dict[str, str]:
    match = _DATA_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidSpecError(
            f"{field}: Vertex takes a local image file or a gs:// URI, not a web URL",
            field=field,
            value=str(value)[:200],
        )
    return {"bytesBase64Encoded": match.group(2), "mimeType": match.group(1)}


class _InlinePart:
    """``dest.part`` for an inline video: written as the answer streams, hashed on the way."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self.hasher = hashlib.sha256()
        self.size = 0

    def __enter__(self) -> _InlinePart:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def reset(self) -> None:
        """Start over (a new answer is being read); the file is opened at the first byte, so
        an operation without inline video leaves any earlier part untouched."""
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb")
        self._file.write(data)
        self.hasher.update(data)
        self.size += len(data)

    def discard(self) -> None:
        """Close and remove the part, if this object wrote it."""
        if self._file is not None:
            self._file.close()
            self._file = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def finish(self, dest: Path, label: str, mime_type: str | None) -> DownloadResult:
        file = self._file
        if file is None or self.size == 0:
            self.discard()
            raise DownloadError(f"{label}: the inline video is empty")
        try:
            await asyncio.to_thread(_flush, file)
            file.close()
            self._file = None
            problem = await asyncio.to_thread(check_media, self.path, Variant.VIDEO, mime_type)
            if problem is not None:
                self.path.unlink(missing_ok=True)  # not an MP4: never kept, never resumed
                raise DownloadError(f"{label}: {problem.text}")
            os.replace(self.path, dest)
            sync_directory(dest.parent)
        except OSError as exc:
            self.discard()
            self.path.unlink(missing_ok=True)
            raise DownloadError(f"{label}: cannot save {dest.name}: {exc.strerror}") from exc
        return DownloadResult(
            variant=Variant.VIDEO, path=dest, size=self.size, sha256=self.hasher.hexdigest()
        )


def _flush(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())
