"""``reelforge run`` against a server whose answers are unusable: every job ends, none hangs.

The server (``tests/hostile.py``, a raw socket server) speaks just enough of the protocol to
accept each create, then answers one job per way a hostile or broken server can: an id with a
control character in it, an unknown status, progress out of range, a 200 that is not JSON, a
200 MB body, a gzip bomb, and 503 for ever. The run must end with each job in ``needs_review``
and the server's answer quoted, within the bounded tolerance or the ``--timeout``, never
hanging.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hostile import HostileServer, Reply, Request, gzip_bomb, json_reply

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

API_KEY = "sk-test-hostile-0123456789"
CASES = ("badid", "status", "progress", "nonjson", "huge", "gzip")
_BOMB = gzip_bomb(64 * 1024 * 1024)


def _video(video_id: str, prompt: str, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": video_id,
        "object": "video",
        "model": "sora-2",
        "status": "queued",
        "progress": 0,
        "created_at": 1_900_000_000,
        "prompt": prompt,
        "size": "1280x720",
        "seconds": "4",
    }
    body.update(fields)
    return body


def _handler(request: Request) -> Reply:  # noqa: PLR0911  # one answer per hostile case
    if request.method == "POST" and request.path == "/v1/videos":
        prompt = request.json()["prompt"]
        case = prompt.split()[0]
        video_id = "video_bad\x01id" if case == "badid" else f"video_{case}"
        return json_reply(_video(video_id, prompt))
    if request.method == "GET" and request.path == "/v1/videos":
        return json_reply(
            {"object": "list", "data": [_video("video_bad\x01id", "badid")], "has_more": False}
        )
    case = request.path.rsplit("_", 1)[-1]
    if case == "status":
        return json_reply(_video("video_status", "status", status="teleporting"))
    if case == "progress":
        return json_reply(_video("video_progress", "progress", status="in_progress", progress=150))
    if case == "nonjson":
        return Reply(headers=[("Content-Type", "text/html")], body=b"<html>hello</html>")
    if case == "huge":
        return Reply(body=b"{" * 4096, content_length=200 * 1024 * 1024)
    if case == "gzip":
        return Reply(
            headers=[("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            body=_BOMB,
        )
    return Reply(status=503, body=b"upstream unavailable")


def _run(server: HostileServer, folder: Path, prompts: list[str], *extra: str) -> dict[str, object]:
    batch = folder / "batch.jsonl"
    batch.write_text(
        "".join(
            json.dumps({"prompt": p, "key": p.split()[0], "seconds": 4}) + "\n" for p in prompts
        )
    )
    done = subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        [
            *(sys.executable, "-m", "reelforge", "run", str(batch)),
            *("--base-url", server.base_url, "--db", str(folder / "db.sqlite")),
            *("--out", str(folder / "out"), "--max-in-flight", "8", "--json", *extra),
        ],
        env={"OPENAI_API_KEY": API_KEY, "PATH": "/usr/bin:/bin", "HOME": str(folder)},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_every_unusable_answer_ends_its_job_in_review_with_the_answer_quoted(
    tmp_path: Path,
) -> None:
    with HostileServer(_handler) as server:
        result = _run(server, tmp_path, [f"{case} a kite over dunes" for case in CASES])
        creates = server.received("POST", "/v1/videos")

    jobs = {job["key"]: job for job in result["jobs"]}  # type: ignore[attr-defined]
    assert set(jobs) == set(CASES)
    for case, job in jobs.items():
        assert job["state"] == "needs_review", (case, job)
        assert job["category"] == "protocol", (case, job)
    assert "video id is not usable" in jobs["badid"]["error"]
    assert "U+0001" in jobs["badid"]["error"]
    assert "teleporting" in jobs["status"]["error"]
    assert "150" in jobs["progress"]["error"]
    assert "not valid JSON" in jobs["nonjson"]["error"]
    assert "bytes" in jobs["huge"]["error"]
    assert "bytes" in jobs["gzip"]["error"]
    # One create per prompt: an unreadable answer to a create is never a reason to send again.
    assert sorted(r.json()["prompt"].split()[0] for r in creates) == sorted(CASES)


def test_the_job_timeout_applies_whatever_the_server_answers(tmp_path: Path) -> None:
    with HostileServer(_handler) as server:
        result = _run(server, tmp_path, ["unavailable a kite"], "--timeout", "6")
        creates = server.received("POST", "/v1/videos")

    (job,) = result["jobs"]  # type: ignore[misc]
    assert job["state"] == "needs_review", job
    assert job["category"] == "timeout", job
    assert "upstream unavailable" in job["error"] or "503" in job["error"], job
    assert len(creates) == 1
