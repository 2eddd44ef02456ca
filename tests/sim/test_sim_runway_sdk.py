"""The official ``runwayml`` client against the simulator on a real loopback port.

It creates a text-to-video and an image-to-video task, waits for them with its own
``wait_for_task_output`` (its poll interval shortened), reads the task, fetches the output URL
it was given, and deletes. ``max_retries=0``: the client would otherwise resend a paid create.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from runwayml import RunwayML
from runwayml.lib import polling

from reelforge.sim import EmbeddedSimulator, SimConfig

SECRET = "key_sdk_referee"
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode("ascii")


@pytest.fixture(scope="module")
def emb() -> Iterator[EmbeddedSimulator]:
    with EmbeddedSimulator(SimConfig(time_scale=3000, media_scale=0.125, fps=2)) as server:
        yield server


@pytest.fixture
def client(emb: EmbeddedSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunwayML]:
    # The client polls every 6 s ± 3 s; the simulator needs a fraction of a second.
    monkeypatch.setattr(polling, "POLL_TIME", 0.05)
    monkeypatch.setattr(polling, "POLL_JITTER", 0.0)
    with RunwayML(api_key=SECRET, base_url=emb.url, max_retries=0) as made:
        yield made


def test_text_to_video_runs_to_succeeded(emb: EmbeddedSimulator, client: RunwayML) -> None:
    created = client.text_to_video.create(
        model="gen4.5", prompt_text="a lighthouse in a storm", ratio="1280:720", duration=5
    )
    task = created.wait_for_task_output(timeout=30)
    assert task.status == "SUCCEEDED"
    assert task.id == created.id
    [url] = task.output
    again = client.tasks.retrieve(created.id)
    assert again.status == "SUCCEEDED"
    video = httpx.get(url, timeout=10)
    assert video.status_code == 200
    assert video.content[4:8] == b"ftyp"
    digest = httpx.get(f"{emb.url}/_sim/videos/{created.id}/sha256", timeout=10).json()
    assert digest["size"] == len(video.content)
    [record] = [c for c in emb.sim.log.creates if c.video_id == created.id]
    assert (record.model, record.seconds, record.size) == ("gen4.5", "5", "1280x720")


def test_image_to_video_runs_to_succeeded_and_deletes(
    emb: EmbeddedSimulator, client: RunwayML
) -> None:
    created = client.image_to_video.create(
        model="gen4.5",
        prompt_image=f"data:image/png;base64,{PNG}",
        prompt_text="the picture comes alive",
        ratio="720:1280",
        duration=4,
    )
    task = created.wait_for_task_output(timeout=30)
    assert task.status == "SUCCEEDED"
    client.tasks.delete(created.id)
    job = emb.sim.store.any(created.id)
    assert job is not None
    assert job.data["route"] == "image_to_video"
    assert job.deleted_at is not None
