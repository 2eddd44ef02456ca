"""``reelforge run`` and ``cancel`` against an endpoint that behaves like LiteLLM's proxy.

The server (``tests/hostile.py``) answers as the proxy does in front of a Videos API: ids of
about a thousand characters with ``=``, ``/`` and ``+``, no ``prompt`` in its answers, no poll
hint, ``x-litellm-call-id`` instead of ``x-request-id``, the MP4 whatever ``variant`` is asked
for, a list call refused (400, 405 or 501), and delete refused (405). Every job must end in a
visible state, nothing may be created twice, and ``run`` must return on its own.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from PIL import Image

from hostile import HostileServer, Reply, Request, json_reply
from reelforge.core.models import JobSpec, JobState, Variant
from reelforge.sim.media import MediaJob, render_media
from reelforge.store import NewJob, Store
from reelforge.store.ids import account_id

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

API_KEY = "sk-gateway-master-test-0123"


def _long_id(n: int) -> str:
    """An opaque id of about 1,000 characters, with ``=``, ``/`` and ``+`` in it."""
    payload = f"litellm:custom_llm_provider:openai;model_id:sora-2;video_id:video_{n};" * 12
    text = base64.b64encode(payload.encode() + b"\xfb\xff\xfe").decode()
    text = text[:984] + "+/+/" + f"{n:04d}" + "=="
    assert all(c in text for c in "=/+")
    assert len("video_" + text) == 1000
    return "video_" + text


class Gateway:
    """A LiteLLM-like endpoint: ``list_status`` for the list call, 405 for delete."""

    def __init__(self, mp4: bytes, *, list_status: int = 400) -> None:
        self.mp4 = mp4
        self.list_status = list_status
        self.lock = threading.Lock()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.creates: list[tuple[float, str]] = []

    def handle(self, request: Request) -> Reply:  # noqa: PLR0911  # one answer per route
        headers = [("x-litellm-call-id", "call-7a0eca3e")]
        path = request.path.split("?", 1)[0]
        if request.method == "POST" and path == "/v1/videos":
            prompt = str(request.json()["prompt"])
            with self.lock:
                self.creates.append((time.monotonic(), prompt))
                video_id = _long_id(len(self.creates))
                self.jobs[video_id] = {"prompt": prompt, "created": time.time()}
            if prompt.startswith("nonjson"):
                return Reply(headers=[("Content-Type", "text/html"), *headers], body=b"<html>")
            return json_reply(self._video(video_id), headers=headers)
        if path == "/v1/videos":
            return json_reply(
                {
                    "error": {
                        "message": "litellm.BadRequestError: LLM Provider NOT provided.",
                        "type": None,
                        "param": None,
                        "code": str(self.list_status),
                    }
                },
                status=self.list_status,
            )
        if request.method == "DELETE":
            return json_reply({"detail": "Method Not Allowed"}, status=405)
        encoded = path.removeprefix("/v1/videos/").removesuffix("/content")
        video_id = unquote(encoded)
        if video_id not in self.jobs:
            return json_reply({"error": {"message": f"no video {video_id[:20]}"}}, status=404)
        if path.endswith("/content"):  # the variant query is dropped: always the MP4
            return Reply(headers=[("Content-Type", "video/mp4"), *headers], body=self.mp4)
        return json_reply(self._video(video_id), headers=headers)

    def _video(self, video_id: str) -> dict[str, object]:
        job = self.jobs[video_id]
        done = time.time() - job["created"] > 0.5
        return {
            "id": video_id,
            "object": "video",
            "model": "sora-2",
            "status": "completed" if done else "in_progress",
            "progress": 100 if done else 50,
            "created_at": int(job["created"]),
            "completed_at": int(job["created"]) + 1 if done else None,
            "size": "1280x720",
            "seconds": "4",
        }


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("media")
    job = MediaJob(
        video_id="video_x", prompt="a kite", model="sora-2", seconds=4, size="1280x720", seed=1
    )
    paths = render_media(job, folder, fps=8, media_scale=0.1)
    return paths[Variant.VIDEO].read_bytes()


def _reelforge(folder: Path, server: HostileServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        [sys.executable, "-m", "reelforge", *args, "--base-url", server.base_url],
        env={"OPENAI_API_KEY": API_KEY, "PATH": "/usr/bin:/bin", "HOME": str(folder)},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def _run(folder: Path, server: HostileServer, prompts: list[str], *extra: str) -> Any:
    batch = folder / "batch.jsonl"
    batch.write_text(
        "".join(json.dumps({"prompt": p, "key": f"job{i}"}) + "\n" for i, p in enumerate(prompts))
    )
    done = _reelforge(
        folder,
        server,
        *("run", str(batch), "--db", str(folder / "db.sqlite"), "--out", str(folder / "out")),
        *("--json", *extra),
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_a_batch_through_a_gateway_finishes_with_derived_images(tmp_path: Path, mp4: bytes) -> None:
    gateway = Gateway(mp4)
    with HostileServer(gateway.handle) as server:
        result = _run(
            tmp_path,
            server,
            ["a red kite over dunes", "a lighthouse in a storm"],
            "--timeout",
            "20",
        )

    assert len(gateway.creates) == 2
    for job in result["jobs"]:
        assert job["state"] == "done", job
        folder = tmp_path / "out" / "batch" / job["key"]
        record = json.loads((folder / "job.json").read_text())
        assert len(record["remote_id"]) == 1000
        assert record["remote_id"] in gateway.jobs  # stored exactly as the endpoint sent it
        assert record["assets"]["video"]["derived"] is False
        assert record["assets"]["thumbnail"]["derived"] is True
        assert record["assets"]["spritesheet"]["derived"] is True
        with Image.open(folder / "thumbnail.webp") as image:
            assert image.format == "WEBP"
        with Image.open(folder / "spritesheet.jpg") as image:
            assert image.format == "JPEG"


@pytest.mark.parametrize("list_status", [400, 405, 501])
def test_a_lost_create_on_an_endpoint_that_cannot_list_goes_to_review(
    tmp_path: Path, mp4: bytes, list_status: int
) -> None:
    gateway = Gateway(mp4, list_status=list_status)
    with HostileServer(gateway.handle) as server:
        result = _run(tmp_path, server, ["nonjson a kite at dusk", "a calm sea"], "--timeout", "4")

    jobs = {job["key"]: job for job in result["jobs"]}
    assert jobs["job1"]["state"] == "done"
    lost = jobs["job0"]
    assert lost["state"] == "needs_review", lost
    assert "cannot list its jobs" in lost["error"], lost
    assert f"HTTP {list_status}" in lost["error"] or "NOT provided" in lost["error"], lost
    # Never resent: the create may have made a video the endpoint cannot show us.
    assert [prompt for _, prompt in gateway.creates].count("nonjson a kite at dusk") == 1


def test_a_lost_create_keeps_its_slot_until_its_timeout(tmp_path: Path, mp4: bytes) -> None:
    """With one slot, the job after an unresolvable create waits until that create's timeout
    has passed: the provider may still be generating it."""
    gateway = Gateway(mp4)
    with HostileServer(gateway.handle) as server:
        result = _run(
            tmp_path,
            server,
            ["nonjson a kite at dusk", "a calm sea"],
            *("--timeout", "5", "--max-in-flight", "1"),
        )

    states = {job["key"]: job["state"] for job in result["jobs"]}
    assert states == {"job0": "needs_review", "job1": "done"}
    (first, _), (second, _) = gateway.creates
    assert second - first >= 4.5, f"the second create went out {second - first:.1f} s after"


def test_cancel_where_delete_is_refused_cancels_here_with_a_note(
    tmp_path: Path, mp4: bytes
) -> None:
    gateway = Gateway(mp4)
    with HostileServer(gateway.handle) as server:
        # A job created through the gateway and still generating, as a killed run left it.
        store = Store.for_path(str(tmp_path / "db.sqlite"))
        store.migrate()
        store.upsert_batch("manual", name="manual", out_dir=str(tmp_path / "out"))
        store.add_jobs(
            "manual",
            [
                NewJob(
                    key="job0",
                    spec=JobSpec(prompt="a kite", size="1280x720"),
                    position=0,
                    account=account_id("openai", server.base_url, API_KEY),
                    estimated_cost=Decimal("0.40"),
                )
            ],
        )
        (job,) = store.jobs("manual")
        store.transition(job.id, JobState.WAITING)
        token = store.record_intent(job.id)
        remote_id = _long_id(99)
        gateway.jobs[remote_id] = {"prompt": "a kite", "created": time.time() + 3600}
        assert store.record_remote_id(job.id, token, remote_id)

        done = _reelforge(tmp_path, server, "cancel", "manual", "--db", str(tmp_path / "db.sqlite"))
        deletes = [r for r in server.requests if r.method == "DELETE"]

    assert done.returncode == 0, done.stdout + done.stderr
    assert "cannot delete" in done.stdout, done.stdout
    assert store.get_job(job.id).state is JobState.CANCELED
    assert len(deletes) == 1
    assert deletes[0].path == "/v1/videos/" + quote(remote_id, safe="")
    store.close()
