"""``reelforge serve``: refusing a non-loopback address without a token (exit 2, before
binding), and a real process on a free loopback port that serves the API, resumes a recorded
batch to completion and stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from reelforge import Forge, JobSpec
from reelforge.cli.main import app
from reelforge.serve.auth import is_loopback
from reelforge.serve.runner import LeaseLostError, check_binding, serve
from reelforge.sim import EmbeddedSimulator, SimConfig
from reelforge.store import NewJob, Store

KEY = "sk-serve-test-0123"
TOKEN = "serve-token-abcdef-0123"
_DROPPED = ("OPENAI_", "FAL_", "REPLICATE_", "RUNWAYML_", "GOOGLE_", "VERTEX_", "REELFORGE_")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
    return {**env, **extra}


ALL_INTERFACES = "0.0.0.0"  # noqa: S104  # refused before anything is bound


@pytest.mark.parametrize("host", [ALL_INTERFACES, "192.168.1.10", "::", "example.com"])
def test_a_non_loopback_host_without_a_token_is_refused_with_exit_2(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REELFORGE_SERVE_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", host, "--port", "1"])
    assert result.exit_code == 2, result.output
    assert "REELFORGE_SERVE_TOKEN" in result.output
    assert f"refusing to serve on {host}" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "url", ["ftp://x.example", "https://", "https://x.example/?a=1", "https://u:p@x.example", "x"]
)
def test_an_unusable_public_url_is_refused_with_exit_2(url: str) -> None:
    result = CliRunner().invoke(app, ["serve", "--public-url", url, "--port", "1"])
    assert result.exit_code == 2, result.output
    assert "--public-url" in result.output
    assert "u:p@" not in result.output  # credentials are never echoed


def test_loopback_addresses_need_no_token() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
        check_binding(host, None)
    for host in (ALL_INTERFACES, "10.0.0.1", "::", "localhost.example.com"):
        assert not is_loopback(host), host


@pytest.fixture
def gateway() -> Iterator[EmbeddedSimulator]:
    with EmbeddedSimulator(SimConfig()) as sim:
        yield sim


def _record_pending(db: Path, out: Path, base_url: str, keys: list[str]) -> str:
    """A batch recorded with its jobs pending and no process running it (as a run stopped
    before it sent anything leaves it)."""
    account = Forge(base_url=base_url, api_key=KEY, db=db, simulator=False).account()
    store = Store.for_path(db)
    try:
        store.migrate()
        store.upsert_batch("orphan", name="orphan", out_dir=out)
        store.add_jobs(
            "orphan",
            [
                NewJob(key=key, spec=JobSpec(prompt=f"A {key}"), position=n, account=account)
                for n, key in enumerate(keys)
            ],
        )
    finally:
        store.close()
    return "orphan"


class _Served:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(  # noqa: S603  # our own interpreter and arguments
            [sys.executable, "-m", "reelforge", "serve", "--port", "0", "--json", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # printed once it listens
        if not line:
            self.process.wait(timeout=10)
            raise AssertionError(f"serve did not start: {self.process.stderr.read()}")  # type: ignore[union-attr]
        self.url = json.loads(line)["url"]

    def stop(self, sig: signal.Signals) -> tuple[int, str]:
        self.process.send_signal(sig)
        _, err = self.process.communicate(timeout=30)
        return self.process.returncode, err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


def _wait_done(client: httpx.Client, batch: str, count: int) -> list[dict[str, object]]:
    """The batch's jobs, once ``count`` of them are done (at most 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        answer = client.get(f"/api/batches/{batch}")
        if answer.status_code == 200 and answer.json()["counts"]["done"] == count:
            jobs: list[dict[str, object]] = client.get(f"/api/batches/{batch}/jobs").json()["jobs"]
            return jobs
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.3)


@pytest.mark.slow
def test_serve_resumes_a_recorded_batch_beside_a_run_and_stops_on_sigterm(
    tmp_path: Path, gateway: EmbeddedSimulator
) -> None:
    db, out = tmp_path / "db.sqlite", tmp_path / "out"
    batch = _record_pending(db, out, gateway.base_url, ["kite", "boat"])
    env = _env(OPENAI_API_KEY=KEY)
    events = tmp_path / "events.jsonl"
    served = _Served(
        ["--db", str(db), "--base-url", gateway.base_url, "--events-jsonl", str(events)],
        env,
        tmp_path,
    )
    try:
        assert served.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=served.url) as client:
            assert [b["id"] for b in client.get("/api/batches").json()["batches"]] == [batch]
            jobs = _wait_done(client, batch, 2)
            # A run of another batch on the same database, while serve is up, works as ever.
            (tmp_path / "more.yaml").write_text(
                "batch: more\njobs:\n  - {prompt: A lighthouse, key: light}\n", encoding="utf-8"
            )
            args = ["run", "more.yaml", "--db", str(db), "--base-url", gateway.base_url]
            run = subprocess.run(  # noqa: S603  # our own interpreter and arguments
                [sys.executable, "-m", "reelforge", *args, "--out", str(out), "--json"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
            )
            assert run.returncode == 0, run.stderr
            assert json.loads(run.stdout)["counts"]["done"] == 1
            _wait_done(client, "more", 1)
        code, err = served.stop(signal.SIGTERM)
    finally:
        served.kill()
    assert code == 0, err
    assert "stopped" in err
    assert "Traceback" not in err
    assert KEY not in err
    assert len(gateway.sim.log.creates) == 3  # each job created exactly once
    lines = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    delivered = {(e["data"]["job_id"], e["data"]["state"]) for e in lines}
    for job in (*jobs, {"id": "more--light"}):
        assert (job["id"], "done") in delivered  # the sink followed both batches
    for job in jobs:
        assert (out / batch / str(job["key"]) / "video.mp4").stat().st_size > 0
    store = Store.for_path(db)
    try:
        assert store.batch_runner(batch) is None  # its lease was given back
    finally:
        store.close()


@pytest.mark.slow
def test_serve_with_a_token_answers_401_without_it_and_stops_on_sigint(tmp_path: Path) -> None:
    served = _Served(
        ["--db", str(tmp_path / "db.sqlite")], _env(REELFORGE_SERVE_TOKEN=TOKEN), tmp_path
    )
    try:
        with httpx.Client(base_url=served.url) as client:
            assert client.get("/api/batches").status_code == 401
            auth = {"Authorization": f"Bearer {TOKEN}"}
            assert client.get("/api/batches", headers=auth).json() == {"batches": []}
        code, err = served.stop(signal.SIGINT)
    finally:
        served.kill()
    assert code == 0, err
    assert "token required" in err
    assert TOKEN not in err


def test_an_open_event_stream_does_not_hold_up_the_stop(tmp_path: Path) -> None:
    """A dashboard tab left open (its server-sent event stream) ends with the server: SIGTERM
    stops it within seconds, with no traceback."""
    served = _Served(["--db", str(tmp_path / "db.sqlite")], _env(), tmp_path)
    try:
        with (
            httpx.Client(base_url=served.url, timeout=30) as client,
            client.stream("GET", "/stream") as stream,
        ):
            assert stream.status_code == 200
            assert next(stream.iter_lines()).startswith("retry:")
            started = time.monotonic()
            code, err = served.stop(signal.SIGTERM)
            took = time.monotonic() - started
    finally:
        served.kill()
    assert code == 0, err
    assert "Traceback" not in err, err
    assert took < 10, f"stopping took {took:.1f} s with a stream open"


async def test_serve_stops_with_an_error_once_its_lease_is_lost(tmp_path: Path) -> None:
    """Another process took this one's jobs over (its executor row was forgotten): serving on
    would race it, so serve stops and says why."""
    ready = asyncio.Event()
    forge = Forge(db=tmp_path / "db.sqlite")
    task = asyncio.create_task(
        serve(forge, port=0, on_ready=lambda _: ready.set(), resume_every=0.1)
    )
    await asyncio.wait_for(ready.wait(), 30)
    store = Store.for_path(tmp_path / "db.sqlite")
    try:
        with store.engine.begin() as conn:
            ids = [row[0] for row in conn.execute(text("SELECT id FROM executors"))]
        assert len(ids) == 1
        await asyncio.to_thread(store.forget_executor, ids[0])
    finally:
        store.close()
    with pytest.raises(LeaseLostError, match="lease was lost"):
        await asyncio.wait_for(task, 30)
