"""Downloaded media is real (H.264 MP4 of the right length, WebP, JPEG), deterministic, ranged."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image
from simkit import FakeClock, SimFactory, client_for, create, finish

from reelforge.sim import FaultConfig, Simulator
from reelforge.sim.media import MediaJob, render_media, render_size, synthetic_chunks


async def _finished(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock, **fields: str
) -> str:
    video = await create(client, **fields)
    finish(sim, clock, video["id"])
    return str(video["id"])


@pytest.mark.parametrize(("seconds", "size"), [("4", "720x1280"), ("12", "1280x720")])
async def test_video_is_h264_with_the_requested_duration(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock, seconds: str, size: str
) -> None:
    video_id = await _finished(
        client, sim, clock, seconds=seconds, size=size, prompt="A lighthouse"
    )
    response = await client.get(f"/videos/{video_id}/content", params={"variant": "video"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(response.content)
    with av.open(io.BytesIO(response.content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.duration is not None
        assert stream.time_base is not None
        duration = float(stream.duration * stream.time_base)
        frame_time = 1 / sim.config.fps
        assert abs(duration - int(seconds)) <= frame_time
        width, height = (int(v) for v in size.split("x"))
        assert stream.codec_context.width / stream.codec_context.height == pytest.approx(
            width / height, rel=0.02
        )
        frames = [frame.to_image().tobytes() for frame in container.decode(video=0)]
    assert len(frames) == int(seconds) * sim.config.fps
    assert len(set(frames)) > len(frames) // 2  # the bar and the counter move
    assert hashlib.sha256(response.content).hexdigest() == sim.asset_sha256(video_id, "video")


async def test_thumbnail_and_spritesheet_are_images(
    client: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    video_id = await _finished(client, sim, clock)
    thumb = await client.get(f"/videos/{video_id}/content", params={"variant": "thumbnail"})
    assert thumb.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert image.format == "WEBP"
        assert image.size == render_size("720x1280", sim.config.media_scale)
    sheet = await client.get(f"/videos/{video_id}/content", params={"variant": "spritesheet"})
    assert sheet.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(sheet.content)) as image:
        assert image.format == "JPEG"
        # 24 frames -> 20 tiles of 128 px wide portrait frames, 5 per row, 4 rows.
        tile_height = 128 * 1280 // 720
        assert image.size == (5 * 128, 4 * tile_height)
    for variant, body in (("thumbnail", thumb.content), ("spritesheet", sheet.content)):
        assert hashlib.sha256(body).hexdigest() == sim.asset_sha256(video_id, variant)


def test_same_seed_and_job_give_the_same_bytes(tmp_path: Path) -> None:
    job = MediaJob(
        video_id="video_1", prompt="p " * 50, model="sora-2", seconds=4, size="720x1280", seed=1
    )
    first = render_media(job, tmp_path / "a", fps=4, media_scale=0.25)
    second = render_media(job, tmp_path / "b", fps=4, media_scale=0.25)
    other = render_media(
        MediaJob(
            video_id="video_1", prompt="q", model="sora-2", seconds=4, size="720x1280", seed=1
        ),
        tmp_path / "c",
        fps=4,
        media_scale=0.25,
    )
    for variant, path in first.items():
        assert path.read_bytes() == second[variant].read_bytes()
        assert path.read_bytes() != other[variant].read_bytes()


async def test_range_requests(client: httpx.AsyncClient, sim: Simulator, clock: FakeClock) -> None:
    video_id = await _finished(client, sim, clock)
    whole = (await client.get(f"/videos/{video_id}/content")).content
    size = len(whole)
    url = f"/videos/{video_id}/content"
    part = await client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    assert part.content == whole[100:200]
    tail = await client.get(url, headers={"Range": "bytes=1000-"})
    assert tail.status_code == 206
    assert tail.content == whole[1000:]
    suffix = await client.get(url, headers={"Range": "bytes=-10"})
    assert suffix.content == whole[-10:]
    beyond = await client.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert (await client.get(url)).headers["accept-ranges"] == "bytes"
    assert [r.status_code for r in sim.log.requests[-6:]] == [200, 206, 206, 206, 416, 200]


def test_synthetic_chunks_are_consistent_across_ranges() -> None:
    total = 300_000
    whole = b"".join(synthetic_chunks("k", total))
    assert len(whole) == total
    assert b"".join(synthetic_chunks("k", total, 70_000, 140_001)) == whole[70_000:140_001]
    assert whole != b"".join(synthetic_chunks("other", total))


async def test_large_asset_is_streamed_and_its_sha_known(
    make_sim: SimFactory, clock: FakeClock
) -> None:
    size = 3 * 1024 * 1024 + 17
    sim = make_sim(faults=FaultConfig(large_asset_bytes=size))
    async with client_for(sim) as c:
        video_id = await _finished(c, sim, clock)
        digest = hashlib.sha256()
        received = 0
        async with c.stream("GET", f"/videos/{video_id}/content") as response:
            assert int(response.headers["content-length"]) == size
            async for piece in response.aiter_bytes():
                digest.update(piece)
                received += len(piece)
        assert received == size
        assert digest.hexdigest() == sim.asset_sha256(video_id, "video")
        resumed = await c.get(
            f"/videos/{video_id}/content", headers={"Range": f"bytes={size - 5}-"}
        )
        assert len(resumed.content) == 5
        # Other variants stay real media.
        thumb = await c.get(f"/videos/{video_id}/content", params={"variant": "thumbnail"})
        assert thumb.content[8:12] == b"WEBP"
