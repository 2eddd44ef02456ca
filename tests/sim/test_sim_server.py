"""The simulator on a real loopback port: EmbeddedSimulator, truncated downloads, /_sim routes."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig

pytestmark = pytest.mark.slow

FAST = {"time_scale": 2000.0, "media_scale": 0.25}


def test_embedded_simulator_serves_on_loopback() -> None:
    with EmbeddedSimulator(SimConfig(**FAST)) as emb:
        assert emb.base_url.startswith("http://127.0.0.1:")
        assert emb.base_url.endswith("/v1")
        with httpx.Client(base_url=emb.base_url, headers={"Authorization": "Bearer k"}) as c:
            created = c.post("/videos", json={"prompt": "over a socket"})
            assert created.status_code == 200
            log = httpx.get(f"{emb.url}/_sim/log").json()
            assert log["creates"][0]["video_id"] == created.json()["id"]
            assert emb.sim.log.creates[0].prompt == "over a socket"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{emb.url}/_sim/log")


async def test_async_context_manager() -> None:
    async with EmbeddedSimulator(SimConfig(**FAST)) as emb, httpx.AsyncClient() as c:
        response = await c.get(f"{emb.base_url}/videos", headers={"Authorization": "Bearer k"})
        assert response.status_code == 200


def _wait_done(c: httpx.Client, video_id: str) -> None:
    for _ in range(500):
        if c.get(f"/videos/{video_id}").json()["status"] == "completed":
            return
        time.sleep(0.01)
    raise AssertionError("video did not complete")


def test_dropped_download_is_truncated_and_resumable() -> None:
    config = SimConfig(
        **FAST, faults=FaultConfig(drop_download_first=1, large_asset_bytes=2_000_000)
    )
    with (
        EmbeddedSimulator(config) as emb,
        httpx.Client(base_url=emb.base_url, headers={"Authorization": "Bearer k"}) as c,
    ):
        video_id = c.post("/videos", json={"prompt": "p"}).json()["id"]
        _wait_done(c, video_id)
        received = bytearray()
        with (  # noqa: PT012  # the error only comes while the body is read
            pytest.raises(httpx.RemoteProtocolError),
            c.stream("GET", f"/videos/{video_id}/content") as response,
        ):
            for piece in response.iter_raw():
                received.extend(piece)
        assert 0 < len(received) < 2_000_000
        rest = c.get(f"/videos/{video_id}/content", headers={"Range": f"bytes={len(received)}-"})
        assert rest.status_code == 206
        whole = bytes(received) + rest.content
        assert hashlib.sha256(whole).hexdigest() == emb.sim.asset_sha256(video_id, "video")
        remote = httpx.get(f"{emb.url}/_sim/videos/{video_id}/sha256").json()
        assert remote["sha256"] == hashlib.sha256(whole).hexdigest()
        assert remote["size"] == 2_000_000


def test_sim_routes_advance_and_reset() -> None:
    with (
        EmbeddedSimulator(SimConfig(time_scale=1.0)) as emb,
        httpx.Client(base_url=emb.base_url, headers={"Authorization": "Bearer k"}) as c,
    ):
        video_id = c.post("/videos", json={"prompt": "p"}).json()["id"]
        assert c.get(f"/videos/{video_id}").json()["status"] == "queued"
        httpx.post(f"{emb.url}/_sim/advance", params={"seconds": 3600})
        assert c.get(f"/videos/{video_id}").json()["status"] == "completed"
        view = httpx.get(f"{emb.url}/_sim/videos/{video_id}").json()
        assert view["status"] == "completed"
        assert httpx.get(f"{emb.url}/_sim/max_in_flight").json() == {"max_in_flight_seen": 1}
        httpx.post(f"{emb.url}/_sim/reset")
        assert emb.sim.log.creates == []
        assert c.get(f"/videos/{video_id}").status_code == 404
