"""A Vertex batch outlives its access tokens and no job fails for it.

``reelforge run`` authenticates with a service-account file whose ``token_uri`` is the
simulator's token endpoint (google-auth signs the JWT and exchanges it, offline). The batch
runs several times longer than one token lives, in two ways:

* tokens that say how long they live (``expires_in`` of 3 s): refreshed before they end;
* tokens revoked early (they claim an hour, work 2 s): requests meet 401, the token is
  refreshed and the request sent again.

Either way every job ends ``done`` and the requests span several token lifetimes. (``--timeout
16`` brings each job's first check in to a quarter of it: the simulator's URL is not the
embedded simulator, so the engine would otherwise wait for Veo's real render time first.)
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from engine_harness import SimFactory, api_key_id, clean_env, sim_config

from reelforge.core.models import JobState
from reelforge.core.paths import database_url
from reelforge.sim.vertex_wire import SIMULATOR_SERVICE_ACCOUNT
from reelforge.store import Store

pytestmark = pytest.mark.slow

JOBS = 12
MODEL = "veo-3.1-fast-generate-001"


def _run(root: str, folder: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    account = folder / "service-account.json"
    account.write_text(
        json.dumps({**SIMULATOR_SERVICE_ACCOUNT, "token_uri": f"{root}/token"}), encoding="utf-8"
    )
    batch = folder / "batch.jsonl"
    batch.write_text(
        "".join(
            json.dumps(
                {
                    "key": f"clip-{i:02d}",
                    "prompt": f"clip {i}: a lighthouse at dusk",
                    "provider": "vertex",
                    "model": MODEL,
                    "seconds": 4,
                }
            )
            + "\n"
            for i in range(JOBS)
        ),
        encoding="utf-8",
    )
    env = clean_env(
        GOOGLE_APPLICATION_CREDENTIALS=str(account),
        GOOGLE_CLOUD_PROJECT="reelforge-tokens",
        VERTEX_BASE_URL=root,
        **settings,
    )
    command = [
        *(sys.executable, "-m", "reelforge", "run", str(batch)),
        *("--db", str(folder / "reelforge.db"), "--out", str(folder / "out")),
        *("--max-in-flight", "3", "--timeout", "16", "--json"),
    ]
    return subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        command, env=env, cwd=folder, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("lifetime", "valid_for"),
    [(3, None), (3600, 2.0)],
    ids=["tokens-expire", "tokens-revoked-early"],
)
def test_a_batch_longer_than_its_tokens_fails_no_job(
    lifetime: int, valid_for: float | None, make_sim: SimFactory, tmp_path: Path
) -> None:
    config = sim_config(time_scale=60, seed=5, media_scale=0.125)
    config["vertex"] = {"token_lifetime": lifetime, "token_valid_for": valid_for}
    sim = make_sim(config)

    done = _run(sim.base_url.removesuffix("/v1"), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    with Store(database_url(tmp_path / "reelforge.db")) as store:
        jobs = store.jobs("batch")
    assert len(jobs) == JOBS
    assert {job.state for job in jobs} == {JobState.DONE}, [(j.id, j.state, j.error) for j in jobs]

    key = api_key_id(SIMULATOR_SERVICE_ACCOUNT["client_email"])
    requests = [
        r for r in sim.log()["requests"] if r["api_key_id"] == key or r["status_code"] == 401
    ]
    accepted = [r for r in requests if r["status_code"] != 401]
    span = max(r["at"] for r in accepted) - min(r["at"] for r in accepted)
    token_life = min(lifetime, valid_for or lifetime)
    assert span > 3 * token_life, f"the batch took {span:.1f} s: not longer than its tokens"
    refused = len(requests) - len(accepted)
    if valid_for is not None:
        assert refused >= 1, "no request met a revoked token: the test did not test the 401 path"
    # A refused request is sent again with a fresh token, never counted as a failure.
    assert len({c["prompt"] for c in sim.log()["creates"]}) == len(sim.log()["creates"]) == JOBS


@pytest.mark.timeout(180)
def test_a_batch_written_to_cloud_storage_downloads_every_video_from_there(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """With ``VERTEX_STORAGE_URI`` Veo writes each video to a bucket; the adapter reads it
    through Cloud Storage's JSON API and the file matches the server's own checksum."""
    sim = make_sim(sim_config(time_scale=60, seed=6, media_scale=0.125))
    done = _run(
        sim.base_url.removesuffix("/v1"), tmp_path, VERTEX_STORAGE_URI="gs://reel-bucket/renders"
    )
    assert done.returncode == 0, done.stderr[-3000:]

    with Store(database_url(tmp_path / "reelforge.db")) as store:
        jobs = store.jobs("batch")
    assert {job.state for job in jobs} == {JobState.DONE}, [(j.id, j.state, j.error) for j in jobs]
    paths = {r["path"] for r in sim.log()["requests"]}
    assert {p for p in paths if p.startswith("/storage/v1/b/reel-bucket/o/")}, sorted(paths)[:20]
    for job in jobs:
        assert job.remote_id is not None
        video = tmp_path / "out" / "batch" / job.key / "video.mp4"
        digest = hashlib.sha256(video.read_bytes()).hexdigest()
        expected, size = sim.sha256(job.remote_id.rsplit("/", 1)[-1], "video")
        assert (digest, video.stat().st_size) == (expected, size), job.key
