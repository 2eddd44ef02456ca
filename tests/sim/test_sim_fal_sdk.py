"""The official ``fal-client`` against the simulator on a real loopback port.

fal-client builds ``https://`` URLs; ``fal_client.client.QUEUE_URL_FORMAT`` points it at the
plain-HTTP server (specs/live-providers.md section 9). Submit, status with logs, result and
cancel then run unmodified, and the client's own resubmission after an nginx 502 that follows a
create shows the duplicate-create trap in the simulator's create log.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator

import av
import fal_client
import fal_client.client
import httpx
import pytest

from reelforge.sim import EmbeddedSimulator, SimConfig

FAL_KEY = "key-id:key-secret"

pytestmark = pytest.mark.slow


Connect = Callable[[EmbeddedSimulator], fal_client.SyncClient]


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[Connect]:
    """A fal-client pointed at a served simulator; its connections are closed afterwards."""
    made: list[fal_client.SyncClient] = []

    def factory(emb: EmbeddedSimulator) -> fal_client.SyncClient:
        monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"{emb.url}/")
        client = fal_client.SyncClient(key=FAL_KEY)
        made.append(client)
        return client

    yield factory
    for client in made:
        client._client.close()  # the SDK offers no close(); its pool would leak sockets


@pytest.fixture
def emb() -> Iterator[EmbeddedSimulator]:
    config = SimConfig(time_scale=400, media_scale=0.125, fps=2, queue_seconds=4)
    with EmbeddedSimulator(config) as server:
        yield server


def test_submit_status_with_logs_result_and_download(
    emb: EmbeddedSimulator, connect: Connect
) -> None:
    client = connect(emb)
    endpoint = "fal-ai/veo3.1/fast/image-to-video"
    handle = client.submit(
        endpoint,
        {
            "prompt": "a kite over the dunes",
            "image_url": "https://img.test/k.png",
            "duration": "4s",
        },
    )
    assert handle.status_url == f"{emb.url}/fal-ai/veo3.1/requests/{handle.request_id}/status"
    seen: list[fal_client.Status] = []
    for event in handle.iter_events(with_logs=True, interval=0.01):
        seen.append(event)
    kinds = [type(event).__name__ for event in seen]
    assert kinds[0] == "Queued"
    assert "InProgress" in kinds
    final = seen[-1]
    assert isinstance(final, fal_client.Completed)
    assert final.error is None
    assert isinstance(final.logs, list)
    assert final.logs
    in_progress = [e for e in seen if isinstance(e, fal_client.InProgress)]
    assert all(isinstance(e.logs, list) for e in in_progress)

    output = handle.get()
    assert output == client.result(endpoint, handle.request_id)
    video = output["video"]
    data = httpx.get(video["url"]).content
    assert len(data) == video["file_size"]
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    sha = httpx.get(f"{emb.url}/_sim/videos/{handle.request_id}/sha256").json()["sha256"]
    assert sha == hashlib.sha256(data).hexdigest()
    paths = {record.path for record in emb.sim.log.requests}
    assert not any(path.startswith("/fal-ai/veo3.1/fast/image-to-video/requests") for path in paths)


def test_cancel_and_a_failed_result(emb: EmbeddedSimulator, connect: Connect) -> None:
    client = connect(emb)
    handle = client.submit("fal-ai/veo3.1/fast", {"prompt": "a slow sunrise"})
    handle.cancel()
    status = handle.status()
    assert isinstance(status, fal_client.Completed)
    assert status.error_type == "request_cancelled"
    with pytest.raises(fal_client.client.FalClientHTTPError) as again:
        handle.cancel()
    assert again.value.status_code == 400
    with pytest.raises(fal_client.client.FalClientHTTPError) as result:
        client.result("fal-ai/veo3.1/fast", handle.request_id)
    assert result.value.status_code == 400


def test_status_reads_a_content_policy_failure(connect: Connect) -> None:
    faults = {"moderation_patterns": ["forbidden"]}
    config = SimConfig(time_scale=2000, media_scale=0.125, fps=2, faults=faults)
    with EmbeddedSimulator(config) as emb:
        client = connect(emb)
        handle = client.submit("fal-ai/veo3.1/fast", {"prompt": "a forbidden scene"})
        final = list(handle.iter_events(interval=0.01))[-1]
        assert isinstance(final, fal_client.Completed)
        assert final.error_type == "content_policy_violation"
        with pytest.raises(fal_client.client.FalClientHTTPError) as raised:
            handle.get()
    assert raised.value.status_code == 422
    detail: object = raised.value.message  # fal's detail list, as the SDK read it
    assert isinstance(detail, list)
    assert detail[0]["type"] == "content_policy_violation"


def test_client_resubmits_after_an_nginx_502_that_followed_a_create(connect: Connect) -> None:
    # Seed 0 draws "fail" for the first create and "succeed" for the second.
    faults = {"error_after_create_rate": 0.5, "server_error_status": 502}
    config = SimConfig(time_scale=2000, media_scale=0.125, fps=2, seed=0, faults=faults)
    with EmbeddedSimulator(config) as emb:
        client = connect(emb)
        handle = client.submit("fal-ai/veo3.1/fast", {"prompt": "one paid clip"})
        creates = list(emb.sim.log.creates)
    assert len(creates) == 2, "the trap: one submit, two paid requests"
    assert handle.request_id == creates[1].video_id
    assert {c.prompt for c in creates} == {"one paid clip"}
