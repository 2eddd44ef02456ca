"""The review dashboard: server-rendered pages, the jobs' files, live updates, actions.

- ``/``: every batch and campaign (counts per state, cost so far against the budget, ETA,
  providers);
- ``/batches/{id}``: the gallery, a card per job (combination) with its thumbnail, badge,
  dimensions and cost; filters; hovering scrubs the spritesheet; a click plays the clip;
- ``/jobs/{id}``: the job's prompt, compliance findings, timeline, ids, errors, files and
  review;
- ``/files/{job}/{variant}``: a job's recorded asset (``Range`` supported); nothing else on
  disk is reachable;
- ``/stream``: the outbox as server-sent events (:mod:`reelforge.serve._sse`);
- ``/static/*``: the page's script and style, shipped in the package;
- the actions' ``POST /api/...`` routes (:mod:`reelforge.serve.actions`).

Templates are Jinja2 with autoescaping on: prompts, labels and errors are user input.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from reelforge.core.models import Variant
from reelforge.serve import _sse, actions
from reelforge.serve import dashboard_views as views
from reelforge.serve.auth import CSRF_FIELD, CSRF_HEADER, csrf_token
from reelforge.serve.dashboard_views import batch_view, cards, job_view
from reelforge.serve.state import ServeState
from reelforge.store import BatchNotFoundError, JobNotFoundError

__all__ = ["CSP", "routes"]

_HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; script-src 'self'; "
    "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
"""The pages' Content-Security-Policy: nothing inline, nothing from elsewhere."""


_TIME_KEYS = frozenset({"resend_after", "completed_at", "expires_at", "submitted_at", "intent_at"})
"""Event data holding Unix times, shown as dates in the timeline."""


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["money"] = _money
    env.filters["duration"] = _duration
    env.filters["size"] = _size
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    env.globals["CSRF_HEADER"] = CSRF_HEADER
    env.globals["time_keys"] = _TIME_KEYS
    return Jinja2Templates(env=env)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"${value:.2f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if count < 1024 or unit == "MiB":
            return f"{count} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]  # a float from here on
    return f"{count} B"


class _Pages:
    """The dashboard's page handlers over one :class:`ServeState`."""

    def __init__(self, state: ServeState) -> None:
        self.state = state
        self.templates = _templates()

    def _render(self, request: Request, name: str, context: dict[str, Any]) -> Response:
        context = {"csrf": csrf_token(request), **context}
        response = self.templates.TemplateResponse(request, name, context)
        response.headers["content-security-policy"] = CSP
        response.headers["cache-control"] = "no-store"
        response.headers["referrer-policy"] = "same-origin"
        response.headers["x-content-type-options"] = "nosniff"
        return response

    async def _head(self) -> int:
        backlog = await asyncio.to_thread(self.state.store.outbox_backlog, 0)
        return backlog.head

    async def index(self, request: Request) -> Response:
        store = self.state.store
        head = await self._head()

        def read() -> list[Any]:
            return [batch_view(store, batch) for batch in reversed(store.batches())]

        views = await asyncio.to_thread(read)
        return self._render(request, "index.html", {"batches": views, "cursor": head})

    async def batch(self, request: Request) -> Response:
        store = self.state.store
        batch_id = request.path_params["batch_id"]
        head = await self._head()
        try:
            batch = await asyncio.to_thread(store.get_batch, batch_id)
        except BatchNotFoundError:
            raise HTTPException(404, f"no batch {batch_id!r}") from None
        view, gallery = await asyncio.to_thread(
            lambda: (batch_view(store, batch), cards(store, batch))
        )
        dimensions: dict[str, list[str]] = {}
        for card in gallery:
            for name, value in card.dimensions.items():
                values = dimensions.setdefault(name, [])
                if value not in values:
                    values.append(value)
        context = {
            "view": view,
            "cards": gallery,
            "dimensions": dimensions,
            "states": sorted({card.job.state.value for card in gallery}),
            "providers": sorted({card.job.provider for card in gallery}),
            "cursor": head,
        }
        return self._render(request, "batch.html", context)

    async def card(self, request: Request) -> Response:
        """One gallery card as it is now (the page swaps it in when its job ends, so its
        thumbnail, spritesheet and clip appear without a reload)."""
        store = self.state.store
        batch_id, job_id = request.path_params["batch_id"], request.path_params["job_id"]

        def read() -> Any:
            job = store.get_job(job_id)
            if job.batch_id != batch_id:
                raise JobNotFoundError(job_id)
            return views.card(store, job, store.latest_review(job.id))

        try:
            found = await asyncio.to_thread(read)
        except JobNotFoundError:
            raise HTTPException(404, f"no job {job_id!r} in batch {batch_id!r}") from None
        return self._render(request, "_card.html", {"card": found})

    async def job(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        head = await self._head()
        try:
            view = await asyncio.to_thread(job_view, self.state.store, job_id)
        except JobNotFoundError:
            raise HTTPException(404, f"no job {job_id!r}") from None
        return self._render(request, "job.html", {"view": view, "cursor": head})

    async def file(self, request: Request) -> Response:
        """One of the job's recorded assets, and nothing else: the path comes from the store,
        never from the request."""
        job_id = request.path_params["job_id"]
        try:
            variant = Variant(request.path_params["variant"])
            assets = await asyncio.to_thread(self.state.store.assets, job_id)
        except ValueError:
            raise HTTPException(404, "no such file") from None
        found = next((a for a in assets if a.variant is variant), None)
        if found is None or not await asyncio.to_thread(Path(found.path).is_file):
            raise HTTPException(404, "no such file")
        return FileResponse(
            found.path,
            media_type=_media_type(variant, Path(found.path)),
            headers={"cache-control": "private, max-age=60", "x-content-type-options": "nosniff"},
        )


_IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def _media_type(variant: Variant, path: Path) -> str:
    if variant is Variant.VIDEO:
        return variant.media_type
    return _IMAGE_TYPES.get(path.suffix.lower(), variant.media_type)


def routes(state: ServeState) -> list[BaseRoute]:
    """The dashboard routes."""
    pages = _Pages(state)
    return [
        Route("/", pages.index, methods=["GET"], name="dashboard:index"),
        Route("/batches/{batch_id}", pages.batch, methods=["GET"], name="dashboard:batch"),
        Route(
            "/batches/{batch_id}/cards/{job_id}",
            pages.card,
            methods=["GET"],
            name="dashboard:card",
        ),
        Route("/jobs/{job_id}", pages.job, methods=["GET"], name="dashboard:job"),
        Route("/files/{job_id}/{variant}", pages.file, methods=["GET"], name="dashboard:file"),
        _sse.stream(state),
        *actions.routes(state),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
