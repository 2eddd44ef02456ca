"""A gateway that echoes the API key in every header and body it can: the key ends up nowhere.

A reverse proxy (a raw loopback server) stands in front of the simulator. It forwards every
request and, on the way back, puts the key in ``x-request-id`` and other headers (verbatim,
JSON-escaped, percent-encoded, base64 in a Basic credential), in extra fields of every JSON body
(some written with ``\\u`` escapes), in the ``error.message`` of failed videos, and in the
bodies of the 5xx and 429 answers it injects, one of them a 3,000-byte text page with the key
across byte 2,000. The real CLI runs a batch through it with a webhook and a JSONL sink, then
``status --json``; the key must appear in no output file, no database byte, no event, no line
printed and no webhook payload.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.sinks.webhook_receiver import Receiver

from hostile import HostileServer, Reply, Request
from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

KEY = "sk-proj-Wm4pQ8rT2vXy6Zb1Nc5Hd9Jf3Kg7Ls0Ae2Ui4Oy8Ep6Tw1Rq5Zx"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"secret-echo-receiver-32-bytes!!!").decode()
BATCH = """\
batch: echo
defaults: {model: sora-2, seconds: 4, size: 1280x720}
jobs:
  - {key: kite, prompt: "A red kite over desert dunes"}
  - {key: lighthouse, prompt: "A lighthouse in a storm at night"}
  - {key: boom, prompt: "A huge explosion downtown"}
  - {key: train, prompt: "A steam train crossing a viaduct"}
"""
HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}
DROPPED_ANSWER_HEADERS = {"content-length", "connection", "transfer-encoding", "content-encoding"}


def json_escaped(text: str) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in text)


def percent_encoded(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def echo_headers() -> list[tuple[str, str]]:
    return [
        ("x-request-id", KEY),
        ("x-echo-authorization", f"Bearer {KEY}"),
        ("openai-organization", KEY),
        ("x-echo-escaped", json_escaped(KEY)),
        ("x-echo-percent", percent_encoded(KEY)),
        ("x-echo-basic", "Basic " + base64.b64encode(f"user:{KEY}".encode()).decode()),
    ]


def traces_of_the_key() -> list[bytes]:
    """What must appear nowhere: the key, long pieces of it, its escaped and encoded forms."""
    pieces = [KEY, KEY[8:24], KEY[20:36], KEY[-16:]]
    encoded = [json_escaped(KEY), percent_encoded(KEY), base64.b64encode(KEY.encode()).decode()]
    return [text.encode() for text in pieces + encoded]


def leaks(data: bytes) -> list[str]:
    return [trace.decode()[:24] for trace in traces_of_the_key() if trace in data]


class EchoProxy:
    """Forwards to the simulator; adds the key to every answer and injects failing answers."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.lock = threading.Lock()
        self.gets = itertools.count(1)
        self.posts = itertools.count(1)
        self.injected: Counter[str] = Counter()
        self.echoed: Counter[str] = Counter()

    def __call__(self, request: Request) -> Reply:
        fault = self._fault(request)
        if fault is not None:
            return fault
        headers = {k: v for k, v in request.headers.items() if k not in HOP_BY_HOP}
        answer = httpx.request(
            request.method,
            self.upstream + request.target,
            headers=headers,
            content=request.body,
            timeout=30,
        )
        forwarded = [
            (name, value)
            for name, value in answer.headers.multi_items()
            if name.lower() not in DROPPED_ANSWER_HEADERS and name.lower() != "x-request-id"
        ]
        body = answer.content
        if answer.headers.get("content-type", "").startswith("application/json"):
            body = self._echo_in_json(answer.json())
        return Reply(status=answer.status_code, headers=forwarded + echo_headers(), body=body)

    def _fault(self, request: Request) -> Reply | None:
        """Every fourth GET fails (500 JSON, 429 JSON or a 502 page, in turn); every third
        create is answered 429 (retried: nothing was created). Never two in a row."""
        with self.lock:
            number = next(self.gets if request.method == "GET" else self.posts)
        if request.method == "POST" and number % 3 == 1:
            return self._json_fault(429, "rate_limit_exceeded")
        if request.method != "GET" or number % 4 != 2:
            return None
        kind = (number // 4) % 3
        if kind == 0:
            return self._json_fault(500, "server_error")
        if kind == 1:
            return self._json_fault(429, "rate_limit_exceeded")
        with self.lock:
            self.injected["502 text"] += 1
        page = ("<html>upstream trouble " + "x" * 1990)[:1990] + KEY
        page = page.ljust(3000, "y") + "</html>"
        return Reply(
            status=502, headers=[("Content-Type", "text/html"), *echo_headers()], body=page.encode()
        )

    def _json_fault(self, status: int, code: str) -> Reply:
        with self.lock:
            self.injected[f"{status} json"] += 1
        body = {
            "error": {
                "message": f"request with key {KEY} failed ({code})",
                "type": code,
                "param": KEY,
                "code": code,
            },
            "echo": KEY,
        }
        headers = [
            ("Content-Type", "application/json"),
            ("retry-after-ms", "50"),
            *echo_headers(),
        ]
        return Reply(status=status, headers=headers, body=self._encode(body))

    def _echo_in_json(self, data: Any) -> bytes:
        if isinstance(data, dict):
            if data.get("object") == "list" and isinstance(data.get("data"), list):
                data["data"] = [self._echo_in_video(item) for item in data["data"]]
            elif data.get("object") == "video":
                data = self._echo_in_video(data)
            data = {**data, "echo": f"Bearer {KEY}", "debug": {"authorization": [KEY]}}
        return self._encode(data)

    def _echo_in_video(self, video: Any) -> Any:
        if not isinstance(video, dict):
            return video
        error = video.get("error")
        if isinstance(error, dict):
            with self.lock:
                self.echoed["failed video"] += 1
            message = f"{error.get('message') or ''} (caller {KEY})"
            video = {**video, "error": {**error, "message": message}}
        return {**video, "owner": KEY}

    def _encode(self, data: Any) -> bytes:
        """Every other body hides the key behind ``\\u`` escapes."""
        with self.lock:
            self.echoed["json body"] += 1
            escape = self.echoed["json body"] % 2 == 0
        text = json.dumps(data)
        if escape:
            text = text.replace(KEY, json_escaped(KEY))
        return text.encode()


@pytest.fixture
def proxy() -> Iterator[tuple[EchoProxy, HostileServer]]:
    config = SimConfig(
        time_scale=400.0,
        poll_after_min_ms=50,
        faults=FaultConfig(moderation_patterns=(r"\bexplosion\b",)),
    )
    with EmbeddedSimulator(config) as sim:
        echo = EchoProxy(sim.url)
        with HostileServer(echo) as server:
            yield echo, server


def reelforge(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI as a user does, with the key in the environment; it must return."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELFORGE_", "OPENAI_"))}
    env |= {"OPENAI_API_KEY": KEY, "REELFORGE_WEBHOOK_SECRET": WEBHOOK_SECRET}
    return subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        [sys.executable, "-m", "reelforge", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=240,
        check=False,
    )


def test_a_gateway_echoing_the_key_everywhere_leaks_it_nowhere(
    proxy: tuple[EchoProxy, HostileServer], tmp_path: Path
) -> None:
    echo, server = proxy
    batch_file = tmp_path / "echo.yaml"
    batch_file.write_text(BATCH, encoding="utf-8")
    out, events = tmp_path / "out", tmp_path / "events.jsonl"
    db_file = tmp_path / "reelforge.db"
    db = f"sqlite:///{db_file}"

    with Receiver(WEBHOOK_SECRET) as receiver:
        run = reelforge(
            tmp_path, "run", str(batch_file), "--base-url", server.base_url, "--out", str(out),
            "--db", db, "--events-jsonl", str(events), "--webhook", receiver.url,
        )  # fmt: skip
        seen = receiver.snapshot()
    listing = reelforge(tmp_path, "status", "--json", "--db", db)
    detail = reelforge(tmp_path, "status", "echo", "--json", "--db", db)

    # The run returned, and every job ended: done, or failed with the moderation reason.
    assert run.returncode == 1, run.stderr.decode(errors="replace")[-2000:]
    assert detail.returncode == 0, detail.stderr
    jobs = {job["key"]: job for job in json.loads(detail.stdout)["jobs"]}
    assert {key: job["state"] for key, job in jobs.items()} == {
        "kite": "done",
        "lighthouse": "done",
        "boom": "failed",
        "train": "done",
    }
    boom = jobs["boom"]
    assert boom["category"] == "content_policy"
    assert "moderation" in boom["error"].lower()
    assert "(caller [redacted])" in boom["error"]  # the echo arrived, redacted

    # The proxy did echo the key everywhere it said it would.
    assert set(echo.injected) == {"500 json", "429 json", "502 text"}
    assert echo.echoed["failed video"] >= 1
    assert echo.echoed["json body"] >= 10
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in server.requests)

    # ... and it is nowhere.
    found: dict[str, list[str]] = {}
    for name, data in [
        ("run stdout", run.stdout),
        ("run stderr", run.stderr),
        ("status --json stdout", listing.stdout),
        ("status --json stderr", listing.stderr),
        ("status echo --json stdout", detail.stdout),
        ("status echo --json stderr", detail.stderr),
        ("webhook payloads", json.dumps(seen.accepted).encode()),
        ("events.jsonl", events.read_bytes()),
    ]:
        found[name] = leaks(data)
    for path in sorted(out.rglob("*")):
        if path.is_file():
            found[str(path.relative_to(tmp_path))] = leaks(path.read_bytes())
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = db_file.with_name(db_file.name + suffix)
        if path.exists():
            found[path.name] = leaks(path.read_bytes())
    assert {where: what for where, what in found.items() if what} == {}

    # The sinks and outputs were really exercised.
    assert seen.invalid == []
    assert {doc["data"]["job_id"] for doc in seen.accepted} == {j["id"] for j in jobs.values()}
    assert len(events.read_text("utf-8").splitlines()) >= len(seen.accepted)
    assert len([p for p in out.rglob("*") if p.is_file()]) >= 3
