"""A verified webhook settles its job without asking the provider: the receivers record the
status a delivery carried, and the job's next poll step applies it instead of fetching.

The receivers run in-process with deliveries signed by each provider's real algorithm; the
poll step (:func:`reelforge.engine.logic.poll`) runs against a provider that counts the
status requests it is asked. A forged delivery, a replay and an older status after a newer
one change nothing; a status another provider's webhook carried is never applied; the OpenAI
protocol's ``video.failed`` (no reason in its body) still costs its one status request.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from tests.serve.hooks_kit import (
    OPENAI_SECRET,
    REPLICATE_SECRET,
    FalKey,
    RecordingState,
    body_of,
    standard_headers,
)

from reelforge.core.capabilities import ModelCapabilities, capabilities_for
from reelforge.core.clock import SystemClock
from reelforge.core.errors import ErrorCategory
from reelforge.core.models import (
    DownloadResult,
    JobSpec,
    JobState,
    RemoteState,
    RemoteStatus,
    Variant,
)
from reelforge.core.polling import PollPolicy
from reelforge.core.pricing import default_prices
from reelforge.engine import logic
from reelforge.engine.context import EngineContext, current, install, uninstall
from reelforge.engine.reconcile import ReconcilePolicy
from reelforge.providers._errors import VideoNotReadyError
from reelforge.serve._hooks_keys import HookSettings
from reelforge.serve.hooks import Receivers
from reelforge.store import NewJob, Store
from reelforge.store.schema import webhook_deliveries

FAL_APP = "fal-ai/veo3.1/fast"
JWKS_URL = "http://keys.test/.well-known/jwks.json"
REPLICATE_URL = "http://replicate.test"
REPLICATE_TOKEN = "r8-test-token-settle"  # a test value, not a secret
SCHEMES = ["openai", "fal", "replicate"]


@dataclass
class CountingProvider:
    """A provider that answers every status request "in progress, 10 %" and counts them."""

    name: str
    fetched: list[str] = field(default_factory=list)

    downloads: int = 0

    async def fetch(self, remote_id: str) -> RemoteStatus:
        self.fetched.append(remote_id)
        return RemoteStatus(remote_id=remote_id, state=RemoteState.IN_PROGRESS, progress=10)

    def capabilities(self, model: str) -> ModelCapabilities:
        return capabilities_for(model, provider="openai")

    async def download(self, remote_id: str, variant: Variant, dest: Path) -> DownloadResult:
        self.downloads += 1  # the content endpoint: the video is not ready (yet)
        raise VideoNotReadyError("download the video: the video is not ready yet")


@dataclass
class Job:
    id: str
    token: str
    remote_id: str


@dataclass
class Setup:
    store: Store
    state: RecordingState
    client: httpx.AsyncClient
    fal_key: FalKey
    providers: dict[str, CountingProvider]
    jobs: dict[str, Job]

    def job(self, scheme: str) -> Job:
        return self.jobs[scheme]

    def fetched(self, scheme: str) -> list[str]:
        return self.providers[scheme].fetched


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.for_path(tmp_path / "reelforge.db")
    store.migrate()
    yield store
    store.close()


def _job(store: Store, scheme: str, remote_id: str, key: str) -> Job:
    """A job of account ``scheme`` recorded as created on its provider as ``remote_id``."""
    store.upsert_batch("settle", name="settle", out_dir="out")
    spec = JobSpec(prompt=f"a lighthouse at dusk, {key}", provider=scheme, model="sora-2")
    position = len(store.jobs("settle"))
    store.add_jobs("settle", [NewJob(key=key, spec=spec, position=position, account=scheme)])
    job = next(job for job in store.jobs("settle") if job.key == key)
    store.transition(job.id, JobState.WAITING)
    token = store.record_intent(job.id)
    assert store.record_remote_id(job.id, token, remote_id)
    return Job(id=job.id, token=token, remote_id=remote_id)


@pytest.fixture
async def setup(store: Store) -> AsyncIterator[Setup]:
    fal_key = FalKey()

    def keys(request: httpx.Request) -> httpx.Response:
        if str(request.url) == JWKS_URL:
            return httpx.Response(200, json=fal_key.jwks())
        if str(request.url) == f"{REPLICATE_URL}/v1/webhooks/default/secret":
            return httpx.Response(200, json={"key": REPLICATE_SECRET})
        return httpx.Response(404)

    settings = HookSettings(
        OPENAI_WEBHOOK_SECRET=OPENAI_SECRET,
        FAL_WEBHOOK_JWKS_URL=JWKS_URL,
        REPLICATE_API_TOKEN=REPLICATE_TOKEN,
        REPLICATE_BASE_URL=REPLICATE_URL,
    )
    state = RecordingState(store=store, db_url=store.url)
    receivers = Receivers(state, settings=settings, transport=httpx.MockTransport(keys))
    providers = {scheme: CountingProvider(scheme) for scheme in SCHEMES}
    install(
        EngineContext(
            store=store,
            providers=providers,  # type: ignore[arg-type]  # only fetch is asked for
            clock=SystemClock(),
            poll=PollPolicy(),
            reconcile=ReconcilePolicy(),
            prices=default_prices(),
        )
    )
    jobs = {
        "openai": _job(store, "openai", f"video_{uuid.uuid4().hex}", "openai"),
        "fal": _job(store, "fal", f"{FAL_APP}/requests/{uuid.uuid4()}", "fal"),
        "replicate": _job(store, "replicate", f"pred{uuid.uuid4().hex[:20]}", "replicate"),
    }
    app = Starlette(routes=receivers.routes())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://serve"
    ) as client:
        try:
            yield Setup(store, state, client, fal_key, providers, jobs)
        finally:
            uninstall()


# -- deliveries, as each provider sends them --------------------------------------------------


async def openai(setup: Setup, kind: str = "video.completed", **kw: Any) -> httpx.Response:
    job = setup.job("openai")
    event = {
        "object": "event",
        "id": f"evt_{uuid.uuid4().hex}",
        "type": kind,
        "created_at": int(time.time()),
        "data": {"id": job.remote_id},
    }
    body = body_of(event)
    secret = kw.pop("secret", OPENAI_SECRET)
    headers = standard_headers(secret, body, msg_id=kw.pop("msg_id", event["id"]))
    return await setup.client.post("/hooks/openai", content=body, headers=headers)


async def fal(setup: Setup, payload: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
    job = setup.job("fal")
    request_id = job.remote_id.rpartition("/")[2]
    body = body_of(
        {
            "request_id": request_id,
            "gateway_request_id": request_id,
            **(payload or {"status": "OK", "payload": {"video": {"url": "https://x.test/o.mp4"}}}),
        }
    )
    key = kw.pop("key", setup.fal_key)
    headers = key.headers(request_id, body)
    return await setup.client.post(f"/hooks/fal?token={job.token}", content=body, headers=headers)


async def replicate(
    setup: Setup,
    status: str = "succeeded",
    *,
    msg_id: str | None = None,
    secret: str = REPLICATE_SECRET,
    **fields: Any,
) -> httpx.Response:
    job = setup.job("replicate")
    prediction: dict[str, Any] = {
        "id": job.remote_id,
        "model": "google/veo-3.1-fast",
        "status": status,
        "output": "https://replicate.delivery/x/output.mp4" if status == "succeeded" else None,
        "error": None,
        "created_at": "2026-12-06T10:00:00.000000Z",
        "completed_at": "2026-12-06T10:01:30.000000Z" if status == "succeeded" else None,
        **fields,
    }
    body = body_of(prediction)
    headers = standard_headers(secret, body, msg_id=msg_id)
    return await setup.client.post(
        f"/hooks/replicate?token={job.token}", content=body, headers=headers
    )


async def deliver(setup: Setup, scheme: str) -> httpx.Response:
    if scheme == "openai":
        return await openai(setup)
    if scheme == "fal":
        return await fal(setup)
    return await replicate(setup)


def snapshot_of(setup: Setup) -> tuple[Any, Any]:
    """Every event and job row: equal snapshots mean nothing changed."""
    return setup.store.events_after(0, limit=10_000), setup.store.jobs("settle")


def pushed_rows(setup: Setup) -> list[dict[str, Any]]:
    with setup.store.engine.connect() as conn:
        return [dict(row) for row in conn.execute(webhook_deliveries.select()).mappings()]


# -- a verified delivery settles its job ------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_signed_completion_settles_its_job_with_no_status_request(
    scheme: str, setup: Setup
) -> None:
    job = setup.job(scheme)
    answer = await deliver(setup, scheme)
    assert answer.json() == {"status": "accepted"}, answer.text
    assert setup.state.woken == [job.id]

    polled = await logic.poll(job.id)

    assert polled.state is JobState.COMPLETED
    assert setup.fetched(scheme) == []  # settled by the webhook: the provider was not asked
    row = setup.store.get_job(job.id)
    assert (row.state, row.progress) == (JobState.COMPLETED, 100)
    [delivery] = [r for r in pushed_rows(setup) if r["job_id"] == job.id]
    assert delivery["remote_id"] == job.remote_id
    assert delivery["status"]["state"] == "completed"
    assert delivery["applied_at"] is not None
    # The poll after it has nothing left to apply (and the job no longer polls anyway).
    assert (await logic.poll(job.id)).state is JobState.COMPLETED
    assert setup.fetched(scheme) == []


async def test_a_failure_fal_reports_is_settled_with_its_category(setup: Setup) -> None:
    job = setup.job("fal")
    problem = {
        "loc": ["body", "prompt"],
        "msg": "The content could not be processed because it contained material flagged",
        "type": "content_policy_violation",
    }
    payload = {
        "status": "ERROR",
        "error": "Invalid status code: 422",
        "payload": {"detail": [problem]},
    }
    assert (await fal(setup, payload)).json() == {"status": "accepted"}

    assert (await logic.poll(job.id)).state is JobState.FAILED
    row = setup.store.get_job(job.id)
    assert row.category is ErrorCategory.CONTENT_POLICY
    assert "flagged" in (row.error or "")
    assert setup.fetched("fal") == []


async def test_a_failed_prediction_replicate_reports_is_settled(setup: Setup) -> None:
    job = setup.job("replicate")
    answer = await replicate(setup, "failed", error="CUDA out of memory")
    assert answer.json() == {"status": "accepted"}

    assert (await logic.poll(job.id)).state is JobState.FAILED
    row = setup.store.get_job(job.id)
    assert (row.category, row.error) == (ErrorCategory.GENERATION_FAILED, "CUDA out of memory")
    assert setup.fetched("replicate") == []


async def test_openai_video_failed_carries_no_reason_so_the_job_is_asked_once(
    setup: Setup,
) -> None:
    job = setup.job("openai")
    assert (await openai(setup, "video.failed")).json() == {"status": "accepted"}
    assert setup.state.woken == [job.id]

    polled = await logic.poll(job.id)

    assert setup.fetched("openai") == [job.remote_id]  # the one check the wake asked for
    assert polled.state is JobState.IN_PROGRESS  # what the provider said, not the webhook


# -- what must change nothing -----------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_forged_delivery_settles_nothing(scheme: str, setup: Setup) -> None:
    job = setup.job(scheme)
    before = snapshot_of(setup)
    if scheme == "openai":
        answer = await openai(setup, secret=REPLICATE_SECRET)
    elif scheme == "fal":
        answer = await fal(setup, key=FalKey())
    else:
        answer = await replicate(setup, secret=OPENAI_SECRET)
    assert answer.status_code == 401
    assert snapshot_of(setup) == before
    assert pushed_rows(setup) == []

    polled = await logic.poll(job.id)

    assert setup.fetched(scheme) == [job.remote_id]  # no pushed status: the provider is asked
    assert polled.state is JobState.IN_PROGRESS


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_replayed_delivery_changes_nothing(scheme: str, setup: Setup) -> None:
    job = setup.job(scheme)
    if scheme == "openai":
        first = await openai(setup, msg_id="evt_replayed")
    elif scheme == "fal":
        first = await fal(setup)
    else:
        first = await replicate(setup, msg_id="msg_replayed")
    assert first.json() == {"status": "accepted"}
    assert (await logic.poll(job.id)).state is JobState.COMPLETED
    before, rows = snapshot_of(setup), pushed_rows(setup)

    if scheme == "openai":
        again = await openai(setup, msg_id="evt_replayed")
    elif scheme == "fal":
        again = await fal(setup)
    else:
        again = await replicate(setup, msg_id="msg_replayed")

    assert again.json() == {"status": "duplicate"}
    assert snapshot_of(setup) == before
    assert pushed_rows(setup) == rows
    assert setup.fetched(scheme) == []


async def test_an_older_status_after_a_newer_one_does_not_move_the_job_back(
    setup: Setup,
) -> None:
    job = setup.job("replicate")
    started = "2026-12-06T10:00:05Z"
    answer = await replicate(setup, "processing", started_at=started, logs="Generating: 60%")
    assert answer.json() == {"status": "accepted"}
    assert (await logic.poll(job.id)).state is JobState.IN_PROGRESS
    assert setup.store.get_job(job.id).progress == 60

    # Late, older words: "starting" (queued) and a lower progress. Neither moves the job.
    assert (await replicate(setup, "starting")).json() == {"status": "accepted"}
    low = await replicate(setup, "processing", started_at=started, logs="Generating: 20%")
    assert low.json() == {"status": "accepted"}
    polled = await logic.poll(job.id)
    row = setup.store.get_job(job.id)
    assert (polled.state, row.state, row.progress) == (JobState.IN_PROGRESS,) * 2 + (60,)

    # The ending, then a late "processing": the job stays completed.
    assert (await replicate(setup, "succeeded")).json() == {"status": "accepted"}
    assert (await logic.poll(job.id)).state is JobState.COMPLETED
    late = await replicate(setup, "processing", started_at=started, logs="Generating: 90%")
    assert late.json() == {"status": "accepted"}
    assert (await logic.poll(job.id)).state is JobState.COMPLETED
    row = setup.store.get_job(job.id)
    assert (row.state, row.progress) == (JobState.COMPLETED, 100)
    assert setup.fetched("replicate") == []


async def test_an_ending_wins_over_running_words_received_with_it(setup: Setup) -> None:
    job = setup.job("replicate")
    assert (await replicate(setup, "succeeded")).json() == {"status": "accepted"}
    running = await replicate(setup, "processing", started_at="2026-12-06T10:00:05Z", logs="50%")
    assert running.json() == {"status": "accepted"}

    assert (await logic.poll(job.id)).state is JobState.COMPLETED
    assert setup.fetched("replicate") == []


async def test_a_status_from_another_providers_webhook_is_never_applied(
    setup: Setup, store: Store
) -> None:
    # A Replicate-signed prediction whose id is the OpenAI job's video id (no token): it is
    # recorded against that job, but only an OpenAI delivery may settle an OpenAI job.
    job = setup.job("openai")
    prediction = {"id": job.remote_id, "status": "succeeded", "output": "https://x.test/o.mp4"}
    body = body_of(prediction)
    answer = await setup.client.post(
        "/hooks/replicate", content=body, headers=standard_headers(REPLICATE_SECRET, body)
    )
    assert answer.json() == {"status": "accepted"}

    polled = await logic.poll(job.id)

    assert setup.fetched("openai") == [job.remote_id]
    assert polled.state is JobState.IN_PROGRESS


async def test_a_completion_before_the_remote_id_was_recorded_settles_the_job_later(
    setup: Setup, store: Store
) -> None:
    # The provider's webhook can outrun the create's answer: the OpenAI delivery names a
    # video no job holds yet (acknowledged, ignored), and settles the job once it does.
    spec = JobSpec(prompt="a fox on a frozen lake", provider="openai", model="sora-2")
    store.add_jobs("settle", [NewJob(key="early", spec=spec, position=9, account="openai")])
    early = next(job for job in store.jobs("settle") if job.key == "early")
    store.transition(early.id, JobState.WAITING)
    token = store.record_intent(early.id)
    video_id = f"video_{uuid.uuid4().hex}"
    event = {"object": "event", "id": "evt_early", "type": "video.completed"}
    body = body_of({**event, "created_at": int(time.time()), "data": {"id": video_id}})
    answer = await setup.client.post(
        "/hooks/openai", content=body, headers=standard_headers(OPENAI_SECRET, body)
    )
    assert answer.json() == {"status": "ignored"}
    assert store.history(early.id)[-1].kind.value != "note"

    assert store.record_remote_id(early.id, token, video_id)
    assert (await logic.poll(early.id)).state is JobState.COMPLETED
    assert setup.fetched("openai") == []


async def test_a_completion_whose_video_is_not_ready_is_downloaded_again_then_fails_right(
    setup: Setup, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An OpenAI-protocol completion settles the job without a status request; the content
    # endpoint is the truth: a video that is not ready puts the job back to completed, and the
    # download workflow tries again after the step's wait, until the job's timeout.
    monkeypatch.chdir(tmp_path)
    job = setup.job("openai")
    assert (await openai(setup)).json() == {"status": "accepted"}
    assert (await logic.poll(job.id)).state is JobState.COMPLETED

    first = await logic.download(job.id)
    assert (first.state, first.strikes) == (JobState.COMPLETED, 1)
    assert first.wait > 0
    second = await logic.download(job.id, first.strikes)
    assert (second.state, second.strikes) == (JobState.COMPLETED, 2)
    assert second.wait >= first.wait
    assert setup.providers["openai"].downloads == 2
    notes = [e.data["message"] for e in store.history(job.id) if e.kind.value == "note"]
    assert sum("not ready to download yet" in note for note in notes) == 1

    # Past the job's timeout: the download fails, retryable, as any other download failure.
    install(dataclasses.replace(current(), poll=PollPolicy(timeout=0.0)))
    ended = await logic.download(job.id, second.strikes)
    row = store.get_job(job.id)
    assert (ended.state, ended.wait, row.category) == (
        JobState.FAILED,
        0.0,
        ErrorCategory.DOWNLOAD,
    )
    assert "reelforge retry" in (row.error or "")
    assert setup.fetched("openai") == []
