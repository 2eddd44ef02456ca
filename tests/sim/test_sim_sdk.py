"""The official ``openai`` SDK against the simulator on a real loopback port.

Every model/seconds/size combination the capability table allows goes through create, the SDK's
own poll helper (which honours ``openai-poll-after-ms``), the three downloads, list, remix and
delete, with the SDK's strict response validation switched on.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Any

import av
import openai
import pytest
from openai import OpenAI
from openai.types import Video
from PIL import Image

from reelforge.core.capabilities import capabilities_for
from reelforge.sim import EmbeddedSimulator, SimConfig

pytestmark = [
    pytest.mark.slow,
    # The SDK marks every videos method deprecated (OpenAI's hosted API shut down); the
    # protocol lives on at gateways, and exercising exactly these methods is the point here.
    pytest.mark.filterwarnings("ignore:The Sora API is scheduled:DeprecationWarning"),
]

COMBINATIONS = [
    (model, seconds, size)
    for model in ("sora-2", "sora-2-pro")
    for seconds in capabilities_for(model).seconds
    for size in capabilities_for(model).sizes
]


@pytest.fixture(scope="module")
def emb() -> Iterator[EmbeddedSimulator]:
    config = SimConfig(time_scale=3000, media_scale=0.125, fps=2, poll_after_min_ms=10)
    with EmbeddedSimulator(config) as server:
        yield server


@pytest.fixture(scope="module")
def client(emb: EmbeddedSimulator) -> Iterator[OpenAI]:
    with OpenAI(
        base_url=emb.base_url, api_key="sk-sdk", max_retries=0, _strict_response_validation=True
    ) as sdk:
        yield sdk


def test_combination_table_is_complete() -> None:
    assert len(COMBINATIONS) == 18


@pytest.mark.parametrize(("model", "seconds", "size"), COMBINATIONS)
def test_full_round_trip(
    client: OpenAI, emb: EmbeddedSimulator, model: Any, seconds: int, size: Any
) -> None:
    prompt = f"{model} {seconds}s {size}: a paper boat on a pond"
    video = client.videos.create(prompt=prompt, model=model, seconds=str(seconds), size=size)  # type: ignore[arg-type]
    assert isinstance(video, Video)
    assert (video.status, video.model, video.seconds, video.size) == (
        "queued",
        model,
        str(seconds),
        size,
    )
    done = client.videos.poll(video.id)
    assert done.status == "completed"
    assert done.progress == 100
    assert done.completed_at is not None
    assert done.expires_at is not None
    assert done.expires_at > done.completed_at

    data = client.videos.download_content(video.id).content
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.duration is not None
        assert stream.time_base is not None
        assert abs(float(stream.duration * stream.time_base) - seconds) <= 0.5
    assert hashlib.sha256(data).hexdigest() == emb.sim.asset_sha256(video.id, "video")
    thumb = client.videos.download_content(video.id, variant="thumbnail").content
    sheet = client.videos.download_content(video.id, variant="spritesheet").content
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.format == "WEBP"
    with Image.open(io.BytesIO(sheet)) as image:
        assert image.format == "JPEG"

    listed = [v.id for v in client.videos.list(limit=100, order="desc")]
    assert video.id in listed

    remix = client.videos.remix(video.id, prompt=prompt + ", at dusk")
    assert remix.remixed_from_video_id == video.id
    assert (remix.model, remix.seconds, remix.size) == (model, str(seconds), size)
    assert client.videos.poll(remix.id).status == "completed"

    deleted = client.videos.delete(video.id)
    assert deleted.deleted is True
    assert deleted.id == video.id
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    creates = [r for r in emb.sim.log.creates if r.video_id in (video.id, remix.id)]
    assert [r.kind for r in creates] == ["create", "remix"]


def test_list_pages_with_the_sdk_paginator(client: OpenAI, emb: EmbeddedSimulator) -> None:
    with OpenAI(base_url=emb.base_url, api_key="sk-pager", max_retries=0) as own:
        ids = [own.videos.create(prompt=f"page {i}").id for i in range(7)]
        first = own.videos.list(limit=3, order="asc")
        assert [v.id for v in first.data] == ids[:3]
        assert first.has_more is True
        every = [v.id for v in own.videos.list(limit=3, order="asc")]  # auto-paginates
    assert every == ids


def test_edit_and_extend(client: OpenAI) -> None:
    source = client.videos.create_and_poll(prompt="a kite", seconds="8", size="1280x720")
    assert source.status == "completed"
    mp4 = client.videos.download_content(source.id).content
    # The SDK uploads the source video as a file; the simulator probes its length and shape.
    edited = client.videos.edit(prompt="a red kite", video=("kite.mp4", mp4, "video/mp4"))
    assert (edited.seconds, edited.size) == ("8", "1280x720")
    extended = client.videos.extend(
        prompt="the kite lands", seconds="4", video=("kite.mp4", mp4, "video/mp4")
    )
    assert extended.seconds == "12"
    # A reference to a finished job (``{"id": ...}``) works as JSON.
    by_id = client.post(
        "/videos/edits", body={"prompt": "a blue kite", "video": {"id": source.id}}, cast_to=Video
    )
    assert (by_id.seconds, by_id.size) == ("8", "1280x720")
    with pytest.raises(openai.BadRequestError, match="could not be read as a video"):
        client.videos.edit(prompt="p", video=("x.mp4", b"not a video", "video/mp4"))


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


INVALID_CREATES: list[tuple[str, dict[str, Any], str]] = [
    ("seconds not allowed", {"prompt": "p", "seconds": "10"}, "Invalid value: '10'"),
    ("pro size on sora-2", {"prompt": "p", "size": "1792x1024"}, "Invalid value: '1792x1024'"),
    ("prompt too long", {"prompt": "x" * 32_001}, "string too long"),
    ("empty prompt", {"prompt": ""}, "string too short"),
    ("unknown model", {"prompt": "p", "model": "sora-9"}, "does not exist"),
    (
        "reference of the wrong size",
        {
            "prompt": "p",
            "size": "1280x720",
            "input_reference": ("r.png", _png(100, 100), "image/png"),
        },
        "Inpaint image must match the requested width and height",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "message"), [c[1:] for c in INVALID_CREATES], ids=[c[0] for c in INVALID_CREATES]
)
def test_sdk_raises_bad_request(
    client: OpenAI, emb: EmbeddedSimulator, kwargs: dict[str, Any], message: str
) -> None:
    before = len(emb.sim.log.creates)
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(**kwargs)
    assert message in caught.value.message
    assert caught.value.status_code == 400
    assert caught.value.request_id is not None
    assert caught.value.request_id.startswith("req_")
    assert len(emb.sim.log.creates) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"prompt": "p", "seconds": 4},
            "Invalid type for 'seconds': expected one of '4', '8', or '12', "
            "but got an integer instead.",
        ),
        ({"model": "sora-2"}, "Missing required parameter: 'prompt'."),
    ],
)
def test_sdk_json_requests_the_typed_methods_cannot_send(
    client: OpenAI, body: dict[str, Any], message: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/videos", body=body, cast_to=Video)
    assert caught.value.message == f"Error code: 400 - {message}"
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == message
    assert caught.value.body["type"] == "invalid_request_error"
