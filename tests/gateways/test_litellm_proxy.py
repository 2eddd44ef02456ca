"""reelforge through a real LiteLLM proxy (1.110.2) in front of ``reelforge sim``.

What the proxy does to ``/v1/videos`` (see docs/gateways.md): ids become ~240-character opaque
strings, list is refused, delete is 405, thumbnail and spritesheet requests return the MP4,
``Range`` is ignored, upstream errors arrive inside ``error.message``. Every test judges by
what the user gets (exit codes, files, messages) and by the simulator's ground truth behind the
proxy (creates per prompt, videos in flight).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import av
import pytest
from gateway_harness import (
    UPSTREAM_KEY,
    Gateway,
    GatewaySim,
    SimFactory,
    api_key_id,
    peak_in_flight,
    sim_config,
)
from netns_kit import Completed, Service
from PIL import Image
from sqlalchemy.exc import OperationalError

from reelforge.core.config import database_url
from reelforge.core.models import JobState
from reelforge.store import Store, StoreError

# Through the proxy there is no poll hint: reelforge's first status check waits for the model's
# typical render time (about a minute for 4 s of sora-2), however fast the simulator is.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PROMPT = "A red kite over desert dunes at dawn"
UPSTREAM_MESSAGE = "Supported values are: '4', '8', and '12'"
"""What the simulator (as the live API) says to ``seconds: 10``; the proxy wraps it."""

CAP = 3
JOB_TIMEOUT = 60
"""``--timeout`` of the batch: a create whose answer was lost holds its slot this long."""
CREATE_DELAY = 3.0
"""Real seconds every create takes on the simulator: the window the run is killed in."""
RUN_LIMIT = 420.0
"""How long a ``reelforge run`` may take before the test calls it hung."""


# -- a: generate ------------------------------------------------------------------------------


def test_generate_through_the_proxy_saves_a_video_and_derives_its_pictures(
    gateway: Gateway, make_sim: SimFactory, tmp_path: Path
) -> None:
    """The proxy answers thumbnail and spritesheet requests with the MP4: reelforge still
    saves a decodable video, a real WebP thumbnail and JPEG spritesheet, and says in
    ``job.json`` that the two pictures were derived from the video."""
    sim = make_sim(sim_config(time_scale=40, seed=1))
    out = tmp_path / "out"

    done = gateway.reelforge(
        "generate", PROMPT, "--out", out, "--timeout", "40", cwd=tmp_path, timeout=120
    )

    assert done.returncode == 0, done.describe()
    creates = sim.creates()
    assert [create["prompt"] for create in creates] == [PROMPT], "not created once via the proxy"
    folders = [path.parent for path in out.glob("*/job.json")]
    assert len(folders) == 1, sorted(str(path) for path in out.rglob("*"))
    folder = folders[0]

    with av.open(str(folder / "video.mp4")) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames > 0, "video.mp4 has no decodable frame"
    for name, expected in (("thumbnail.webp", "WEBP"), ("spritesheet.jpg", "JPEG")):
        with Image.open(folder / name) as picture:
            assert picture.format == expected, (name, picture.format)
            picture.load()

    assets = json.loads((folder / "job.json").read_text(encoding="utf-8"))["assets"]
    assert assets["thumbnail"].get("derived") is True, assets["thumbnail"]
    assert assets["spritesheet"].get("derived") is True, assets["spritesheet"]
    assert assets["video"].get("derived", False) is False, assets["video"]


# -- b: a killed batch ------------------------------------------------------------------------


@pytest.mark.timeout(2 * RUN_LIMIT + 300)
def test_a_batch_killed_mid_create_through_the_proxy_creates_each_prompt_once_within_the_cap(
    gateway: Gateway, make_sim: SimFactory, tmp_path: Path
) -> None:
    """20 jobs, at most 3 in flight, through the proxy with creates that take 3 s, some
    answered 500 after the job was made, and downloads cut off part-way; ``kill -9`` while a
    create is in the air, then the same command again.

    The simulator made each prompt at most once and never had more than 3 in flight; every
    run exited on its own. The proxy refuses to list, so a create whose answer was lost cannot
    be settled: only those jobs may end ``needs_review`` (with a reason), each keeping its slot
    until ``--timeout`` has passed since its create; every other job ends ``done``."""
    sim = make_sim(
        sim_config(
            time_scale=40,
            seed=2,  # the 7th and 11th creates are answered 500 after the job is made
            create_delay=CREATE_DELAY,
            error_after_create_rate=0.1,
            drop_download_rate=0.25,
        )
    )
    batch, prompts = _write_batch(tmp_path, "via-gateway", 20)
    db = tmp_path / "reelforge.db"
    command = (
        *("run", batch, "--max-in-flight", str(CAP), "--timeout", str(JOB_TIMEOUT)),
        # A lost create may not be resent before this + the 30 s listing lag: well inside the
        # test, so a resend the proxy's refused listing cannot justify would show up.
        *("--create-timeout", "10"),
        *("--out", tmp_path / "out", "--db", db),
    )

    first = gateway.start(*command, cwd=tmp_path, log_path=tmp_path / "run-1.log")
    try:
        victim, killed_at = _kill_in_a_create_window(first, sim, db, prompts)
    finally:
        first.stop()
    submitting = _submitting(db)
    again = gateway.reelforge(*command, cwd=tmp_path, timeout=RUN_LIMIT)
    status = gateway.reelforge(
        "status", "via-gateway", "--json", "--db", db, cwd=tmp_path, timeout=60
    )

    # The scenario happened: the killed job's create landed after its client was gone, and
    # the proxy passed a 500 answered after a create on.
    creates = sim.creates()
    landed = [create for create in creates if create["prompt"] == prompts[victim]]
    assert landed, f"{victim}'s create never reached the simulator"
    assert landed[0]["created_at"] >= killed_at - 0.05, "the create landed before the kill"
    answered_500 = _created_but_answered_500(sim, prompts)
    assert answered_500, "no create was answered 500 after the job was made"
    # In the air at the kill: intent recorded, and no create landed well before the kill.
    answered_before = {
        create["prompt"] for create in creates if create["created_at"] < killed_at - 0.5
    }
    in_the_air = {key for key in submitting if prompts[key] not in answered_before}

    assert again.returncode in (0, 1, 2), again.describe()
    per_prompt = Counter(create["prompt"] for create in creates)
    twice = {prompt: n for prompt, n in per_prompt.items() if n > 1}
    assert not twice, f"prompts created more than once: {twice}"
    peak = peak_in_flight(sim.videos())
    assert peak <= CAP, f"{peak} videos in flight at once on the simulator (cap {CAP})"
    assert sim.max_in_flight() <= CAP

    assert status.returncode == 0, status.describe()
    ambiguous = in_the_air | answered_500
    ends = _check_ends(json.loads(status.stdout)["jobs"], prompts, ambiguous, again)
    expected_exit = 0 if set(ends.values()) == {"done"} else 1
    assert again.returncode == expected_exit, again.describe()

    # A job left for review keeps its slot until --timeout has passed since its create was
    # sent (about CREATE_DELAY before the simulator made it): counting each such video as in
    # flight until then (less 2 s of slack), the cap still holds.
    held = {
        create["video_id"]: create["created_at"] - CREATE_DELAY + JOB_TIMEOUT - 2.0
        for create in creates
        if create["prompt"] in {prompts[key] for key in ambiguous}
    }
    peak = peak_in_flight(sim.videos(), held_until=held)
    assert peak <= CAP, f"a job left for review gave its slot back early: {peak} in flight"


def _check_ends(
    jobs: list[dict[str, Any]], prompts: dict[str, str], ambiguous: set[str], run: Completed
) -> dict[str, str]:
    """Every job is done or needs_review with a reason, and only a job whose create's answer
    was lost (in the air at the kill, or answered 500) is left for review: every other one had
    an answer to go on. Returns each key's state."""
    by_key = {job["key"]: job for job in jobs}
    assert set(by_key) == set(prompts)
    ends = {key: job["state"] for key, job in by_key.items()}
    stray = {key: state for key, state in ends.items() if state not in ("done", "needs_review")}
    assert not stray, f"jobs neither done nor needs_review: {stray}\n{run.describe()}"
    unexplained = [
        key for key, job in by_key.items() if job["state"] == "needs_review" and not job["error"]
    ]
    assert not unexplained, f"needs_review without a reason: {unexplained}"
    unsettled = {
        key: (job["state"], job["error"])
        for key, job in by_key.items()
        if key not in ambiguous and job["state"] != "done"
    }
    assert not unsettled, (
        f"{len(unsettled)} jobs whose create was answered are not done (ambiguous: "
        f"{sorted(ambiguous)}): {dict(list(unsettled.items())[:3])}"
    )
    return ends


def _created_but_answered_500(sim: GatewaySim, prompts: dict[str, str]) -> set[str]:
    """Keys of the jobs the simulator made and answered 500 (``error_after_create``)."""
    log = sim.log()
    refused = {
        request["request_id"]
        for request in log["requests"]
        if "error_after_create" in (request["fault"] or "").split("+")
    }
    keys = {prompt: key for key, prompt in prompts.items()}
    upstream = api_key_id(UPSTREAM_KEY)
    return {
        keys[create["prompt"]]
        for create in log["creates"]
        if create["api_key_id"] == upstream and create["request_id"] in refused
    }


def _write_batch(folder: Path, name: str, count: int) -> tuple[Path, dict[str, str]]:
    """A JSONL batch of ``count`` 4-second sora-2 jobs; returns it and each key's prompt."""
    prompts = {
        f"shot-{i:02d}": f"Shot {i:02d}: a paper boat on a rainy street" for i in range(count)
    }
    path = folder / f"{name}.jsonl"
    path.write_text(
        "".join(
            json.dumps({"key": key, "prompt": prompt, "model": "sora-2", "seconds": 4}) + "\n"
            for key, prompt in prompts.items()
        ),
        encoding="utf-8",
    )
    return path, prompts


def _submitting(db: Path) -> set[str]:
    """Keys of the jobs whose create is under way (empty before the tables exist)."""
    if not db.exists():
        return set()
    try:
        with Store(database_url(db)) as store:
            return {
                job.key for job in store.jobs("via-gateway") if job.state is JobState.SUBMITTING
            }
    except (OperationalError, StoreError):
        return set()


def _kill_in_a_create_window(
    run: Service, sim: GatewaySim, db: Path, prompts: dict[str, str]
) -> tuple[str, float]:
    """Once the batch is at work (3 creates made), ``kill -9`` the run while one of its creates
    has been at the simulator for a while and not yet answered; return that job's key and the
    time of the kill."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert run.running(), f"the run ended before it could be killed\n{run.tail()}"
        created = {create["prompt"] for create in sim.creates()}
        if len(created) >= CAP:
            now = time.monotonic()
            pending = {key for key in _submitting(db) if prompts[key] not in created}
            seen = {key: seen.get(key, now) for key in pending}
            ripe = [key for key, since in seen.items() if now - since >= 0.7]
            if ripe:
                killed_at = time.time()
                run.kill()
                return ripe[0], killed_at
        time.sleep(0.1)
    raise AssertionError(f"no create was seen in the air within 120 s\n{run.tail()}")


# -- c: an alias only the gateway validates ---------------------------------------------------


def _error_of(stdout: str) -> dict[str, Any]:
    assert stdout.strip(), "nothing on stdout with --json"
    document = json.loads(stdout)
    assert isinstance(document, dict), document
    error = document.get("error")
    assert isinstance(error, dict), document
    return error


def test_an_alias_with_a_bad_length_fails_with_the_upstream_message(
    gateway: Gateway, make_sim: SimFactory, tmp_path: Path
) -> None:
    """``my-video-model`` is a name reelforge cannot validate locally: the server refuses 10 s,
    and reelforge exits 1 with the server's own words (on stderr; with ``--json``, in a JSON
    error object on stdout)."""
    sim = make_sim(sim_config(time_scale=40, seed=3))
    command = (
        *("generate", PROMPT, "--model", "my-video-model", "--seconds", "10"),
        *("--out", tmp_path / "out"),
    )

    plain = gateway.reelforge(*command, cwd=tmp_path, timeout=60)
    as_json = gateway.reelforge(*command, "--json", cwd=tmp_path, timeout=60)

    assert plain.returncode == 1, plain.describe()
    assert UPSTREAM_MESSAGE in plain.stderr, plain.describe()
    assert as_json.returncode == 1, as_json.describe()
    error = _error_of(as_json.stdout)
    assert UPSTREAM_MESSAGE in str(error.get("message")), error
    refused = [
        request
        for request in sim.log()["requests"]
        if request["method"] == "POST" and request["path"] == "/v1/videos"
    ]
    assert [request["status_code"] for request in refused] == [400, 400], "not refused upstream"
    assert sim.creates() == []
