"""A served dashboard over a real database: a campaign run by ``reelforge campaign run`` on the
built-in simulator, and a batch whose first run was killed before it sent anything (so a second
``reelforge run`` can finish it while a page is open)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from PIL import Image
from tests.engine.engine_harness import clean_env

from reelforge._serve import ThreadedServer
from reelforge.core.errors import ErrorCategory
from reelforge.core.models import JobSpec, JobState, Variant
from reelforge.serve import ServeState, build_app
from reelforge.sim import EmbeddedSimulator, SimConfig
from reelforge.store import NewJob, Store, job_id

CAMPAIGN = """\
campaign: spring-launch
brand: Acme
product_category: sparkling water
big_idea: Refreshment that keeps up with you
defaults: {provider: openai, model: sora-2, seconds: 4, size: 1280x720}
dimensions:
  aesthetic: [cinematic, lo-fi handheld, pastel minimal]
  type: [product hero, testimonial]
  gender: [female, male]
template: >
  {{ aesthetic }} {{ type }} video ad for {{ brand }} {{ product_category }}: {{ big_idea }}.
  A {{ gender }} <b>enjoys</b> a cold can.
  {% if type == "testimonial" %} They say: "Acme is clinically proven to boost your
  energy."{% endif %}
"""
"""12 combinations: the 6 testimonials make a clinical claim (rejected), the rest are made.
The prompt holds markup, which the pages must show as text."""

LIVE_BATCH = """\
batch: live
defaults: {provider: openai, model: sora-2, seconds: 4, size: 1280x720}
jobs:
  - {key: kite, prompt: "A red kite over desert dunes at dawn"}
  - {key: lighthouse, prompt: "A lighthouse in a storm, waves breaking"}
"""

SIM_KEY = "sk-dashboard-test"
CAMPAIGN_BATCH = "spring-launch"
DONE_COMBINATIONS = 6
LIVE = "live"


@dataclass
class Served:
    """The served application and what it serves."""

    url: str
    store: Store
    folder: Path
    sim_url: str

    def run_live_batch(self) -> subprocess.Popen[bytes]:
        """``reelforge run live.yaml`` again, in the background: it finishes the batch."""
        return subprocess.Popen(  # noqa: S603  # our own CLI, fixed arguments
            _cli("run", "live.yaml", *_live_options(self.folder, self.sim_url)),
            cwd=self.folder,
            env=clean_env(OPENAI_API_KEY=SIM_KEY),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "reelforge", *args]


def _run(folder: Path, *args: str, env: dict[str, str], timeout: float) -> int:
    done = subprocess.run(  # noqa: S603  # our own CLI, fixed arguments
        _cli(*args), cwd=folder, env=env, capture_output=True, timeout=timeout, check=False
    )
    if done.returncode not in (0, 1, -signal.SIGKILL):
        raise AssertionError(f"reelforge {args[0]} exited {done.returncode}: {done.stderr!r}")
    return done.returncode


def _live_options(folder: Path, sim_url: str) -> tuple[str, ...]:
    return ("--db", "db.sqlite", "--out", str(folder / "out"), "--base-url", sim_url)


def prepare(folder: Path, sim_url: str) -> None:
    """Run the campaign to its end on the built-in simulator, and the live batch on the
    simulator at ``sim_url`` up to its first submission (killed there)."""
    (folder / "campaign.yaml").write_text(textwrap.dedent(CAMPAIGN), encoding="utf-8")
    (folder / "live.yaml").write_text(LIVE_BATCH, encoding="utf-8")
    common = ("--db", "db.sqlite", "--out", str(folder / "out"))
    _run(folder, "campaign", "run", "campaign.yaml", *common, env=clean_env(), timeout=90)
    killed = _run(
        folder,
        "run",
        "live.yaml",
        *_live_options(folder, sim_url),
        env=clean_env(REELFORGE_CRASH_AT="before_intent", OPENAI_API_KEY=SIM_KEY),
        timeout=60,
    )
    assert killed == -signal.SIGKILL, "the live batch's first run was to be killed"


@contextmanager
def serve(folder: Path) -> Iterator[Served]:
    """A simulator for the live batch, the prepared database, and the dashboard over it on a
    free loopback port."""
    # Seeded apart from the built-in simulator the campaign ran on: two simulators with one seed
    # hand out the same video ids, which one database must never hold for two jobs.
    with EmbeddedSimulator(SimConfig(seed=13)) as sim:
        prepare(folder, sim.base_url)
        store = Store(f"sqlite:///{folder / 'db.sqlite'}")
        state = ServeState(store=store, db_url=store.url)
        try:
            with ThreadedServer(build_app(state), host="127.0.0.1", port=0) as server:
                yield Served(
                    url=f"http://127.0.0.1:{server.port}",
                    store=store,
                    folder=folder,
                    sim_url=sim.base_url,
                )
        finally:
            state.close()
            store.close()


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL = "apt-get install -y chromium"


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``), where a missing browser fails the tests."""
    return os.environ.get("CI", "").lower() == "true"


# -- a hand-made database, for the tests that need no engine ----------------------------------

HOSTILE = '<script>alert("x")</script>'
DIMENSIONS = ("aesthetic", "type")


def campaign_labels(index: int, aesthetic: str, kind: str) -> dict[str, str]:
    """A campaign combination's labels, as the campaign layer writes them."""
    return {
        "campaign": "spring",
        "brand": "Acme",
        "product_category": "water",
        "big_idea": "Refreshment",
        "combination_id": f"c{index:04d}",
        "dimensions": ",".join(DIMENSIONS),
        "aesthetic": aesthetic,
        "type": kind,
    }


def hand_made(store: Store, out: Path) -> dict[str, str]:
    """Batch ``spring`` with four combinations: ``done`` (files on disk, a request id in its
    history), ``failed``, ``waiting`` and one whose prompt and dimension are markup; its
    ``compliance.json``. Returns job ids by name."""
    store.upsert_batch("spring", name="spring", out_dir=out, budget_usd=Decimal(10))
    combos = [
        ("done", "cinematic", "hero"),
        ("failed", "cinematic", "lifestyle"),
        ("waiting", "lo-fi", "hero"),
        ("hostile", HOSTILE, "hero"),
    ]
    store.add_jobs(
        "spring",
        [
            NewJob(
                key=key,
                spec=JobSpec(
                    prompt=f"{aesthetic} {kind} ad: a can on a cliff"
                    if key != "hostile"
                    else f"ad {HOSTILE}",
                    model="sora-2",
                    labels=campaign_labels(i, aesthetic, kind),
                ),
                position=i,
                account="openai-test",
                estimated_cost=Decimal("0.40"),
            )
            for i, (key, aesthetic, kind) in enumerate(combos)
        ],
    )
    ids = {key: job_id("spring", key) for key, _, _ in combos}
    for key in ("done", "failed", "waiting", "hostile"):
        store.transition(ids[key], JobState.WAITING)
    done = ids["done"]
    token = store.record_intent(done)
    assert store.record_remote_id(done, token, "video_abc123")
    store.record_note(done, "checked", {"request_id": "req_42"})
    store.record_progress(done, JobState.IN_PROGRESS, 50)
    store.transition(done, JobState.COMPLETED, progress=100)
    store.transition(done, JobState.DOWNLOADING)
    folder = out / "spring" / "done"
    folder.mkdir(parents=True)
    Image.new("RGB", (256, 144), (200, 30, 30)).save(folder / "thumbnail.webp", format="WEBP")
    Image.new("RGB", (128 * 5, 72 * 4), (30, 30, 200)).save(
        folder / "spritesheet.jpg", format="JPEG"
    )
    (folder / "video.mp4").write_bytes(bytes(range(256)) * 8)
    for variant in (Variant.VIDEO, Variant.THUMBNAIL, Variant.SPRITESHEET):
        path = folder / variant.filename
        store.record_asset(done, variant, path, path.stat().st_size, "ab" * 32)
    store.settle(done, Decimal("0.40"))
    store.transition(done, JobState.DONE)
    failed = ids["failed"]
    token = store.record_intent(failed)
    store.clear_intent(
        failed, token, to=JobState.FAILED, category=ErrorCategory.INVALID_REQUEST, error="bad size"
    )
    report = {
        "combinations": [
            {
                "key": "done",
                "verdict": "warn",
                "findings": [{"rule": "claims.superlative", "message": "'best' is a claim"}],
                "prompt": "final prompt",
                "rendered_prompt": "the template's prompt",
            }
        ]
    }
    (out / "spring" / "compliance.json").write_text(json.dumps(report), encoding="utf-8")
    return ids
