"""The dashboard in a real browser: Debian's chromium driven by Playwright, against a campaign
served from a database the CLI ran on the built-in simulator.

Every thumbnail loads, hovering scrubs the spritesheet, a clip plays, a filter narrows the
cards, a job's badge turns ``done`` through server-sent events while a ``reelforge run`` in
another process finishes it and its card is swapped in with its thumbnail (no reload), and
an approval is recorded as an event. The gallery and a job page are saved as screenshots:
into the test's folder, and with
``REELFORGE_SCREENSHOTS=1`` into ``docs/img/dashboard-gallery.png`` and
``docs/img/dashboard-job.png`` (the ones the README shows).

Under ``CI=true`` a missing ``/usr/bin/chromium`` fails these tests; elsewhere they are skipped
with the command that installs it. Nothing is downloaded: the browser is the system's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.serve.dashboard_kit import (
    CAMPAIGN_BATCH,
    CHROMIUM,
    CHROMIUM_ARGS,
    DONE_COMBINATIONS,
    INSTALL,
    LIVE,
    Served,
    in_ci,
    serve,
)

from reelforge.core.models import JobState
from reelforge.store import EventKind, ReviewVerdict

pytestmark = pytest.mark.slow

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _shot(page: Any, name: str, folder: Path) -> None:
    """Screenshot the page into ``folder``, and into ``docs/img`` when asked to."""
    target = DOCS_IMG if os.environ.get("REELFORGE_SCREENSHOTS") == "1" else folder
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / name), full_page=True)
    assert (target / name).stat().st_size > 0


H264 = 'video/mp4; codecs="avc1.42E01E"'

if not CHROMIUM.exists():
    if in_ci():
        pytest.fail(f"{CHROMIUM} is missing: CI installs it ({INSTALL})", pytrace=False)
    pytest.skip(f"no {CHROMIUM}: {INSTALL}", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("dashboard")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert errors == [], errors


def test_every_thumbnail_in_the_gallery_loads(served: Served, page: Any) -> None:
    page.goto(f"{served.url}/batches/{CAMPAIGN_BATCH}")
    page.wait_for_load_state("load")
    widths = page.eval_on_selector_all(".card img.thumb", "imgs => imgs.map(i => i.naturalWidth)")

    assert len(widths) == DONE_COMBINATIONS
    assert all(width > 0 for width in widths), widths
    assert page.locator(".card").count() == 12
    # The prompt's markup is shown as text, never as markup.
    assert page.locator(".card b").count() == 0
    _shot(page, "dashboard-gallery.png", served.folder)


def test_hovering_scrubs_the_spritesheet(served: Served, page: Any) -> None:
    page.goto(f"{served.url}/batches/{CAMPAIGN_BATCH}")
    media = page.locator(".media[data-sprite]").first
    box = media.bounding_box()
    positions = []
    for share in (0.05, 0.5, 0.95):
        page.mouse.move(box["x"] + box["width"] * share, box["y"] + box["height"] / 2)
        scrub = media.locator(".scrub")
        positions.append(
            (scrub.get_attribute("data-tile"), scrub.evaluate("s => s.style.backgroundPosition"))
        )

    assert media.locator(".scrub").is_visible()
    tiles = [int(tile) for tile, _ in positions if tile is not None]
    assert len(tiles) == 3
    assert tiles == sorted(tiles)
    assert tiles[0] < tiles[-1]
    assert len({position for _, position in positions}) == 3
    sheet = page.evaluate(
        "url => fetch(url).then(r => r.ok && r.headers.get('content-type'))",
        media.get_attribute("data-sprite"),
    )
    assert sheet == "image/jpeg"


def test_a_clip_plays(served: Served, page: Any) -> None:
    page.goto(f"{served.url}/batches/{CAMPAIGN_BATCH}")
    can_play = page.evaluate(f"document.createElement('video').canPlayType('{H264}')")
    assert can_play in ("probably", "maybe"), f"this chromium cannot play H.264 ({can_play!r})"

    page.locator(".media[data-video]").first.click()
    video = page.locator(".media video").first
    video.wait_for(state="attached")
    page.wait_for_function(
        "() => (document.querySelector('.media video') || {}).currentTime > 0.5", timeout=15_000
    )
    first = video.evaluate("v => v.currentTime")
    page.wait_for_timeout(400)
    assert video.evaluate("v => v.currentTime") > first
    assert video.evaluate("v => v.error") is None


def test_the_video_is_served_with_range(served: Served) -> None:
    job = next(j for j in served.store.jobs(CAMPAIGN_BATCH) if j.state is JobState.DONE)
    answer = httpx.get(f"{served.url}/files/{job.id}/video", headers={"Range": "bytes=0-99"})
    assert answer.status_code == 206
    assert answer.headers["content-range"].startswith("bytes 0-99/")
    assert len(answer.content) == 100


def test_a_filter_narrows_the_cards(served: Served, page: Any) -> None:
    page.goto(f"{served.url}/batches/{CAMPAIGN_BATCH}")
    visible = ".card:not([hidden])"
    assert page.locator(visible).count() == 12

    page.select_option('select[data-filter="dim:aesthetic"]', "cinematic")
    assert page.locator(visible).count() == 4
    page.select_option('select[data-filter="state"]', "done")
    assert page.locator(visible).count() == 2
    assert page.locator("#shown").inner_text() == "2 of 12"
    page.select_option('select[data-filter="dim:aesthetic"]', "")
    assert page.locator(visible).count() == DONE_COMBINATIONS


def test_a_badge_turns_done_through_server_sent_events(served: Served, page: Any) -> None:
    [job, *_] = served.store.jobs(LIVE)
    assert job.state is not JobState.DONE
    page.goto(f"{served.url}/batches/{LIVE}")
    page.wait_for_selector("#live.on")
    badge = page.locator(f'[data-job-id="{job.id}"] [data-role="state"]')
    assert badge.inner_text() != "done"
    page.evaluate("window.stillTheSamePage = true")

    run = served.run_live_batch()
    try:
        badge.filter(has_text="done").wait_for(timeout=60_000)
    finally:
        output, _ = run.communicate(timeout=60)
    assert run.returncode == 0, output.decode(errors="replace")

    # The card is swapped in as it is now: its thumbnail loads, still without a reload.
    thumb = page.locator(f'[data-job-id="{job.id}"] img.thumb')
    thumb.wait_for(timeout=30_000)
    page.wait_for_function(
        "el => el.complete && el.naturalWidth > 0", arg=thumb.element_handle(), timeout=30_000
    )
    assert page.evaluate("window.stillTheSamePage") is True
    assert "state-done" in (badge.get_attribute("class") or "")
    assert served.store.get_job(job.id).state is JobState.DONE


def test_approving_a_clip_records_an_event(served: Served, page: Any) -> None:
    job = next(j for j in served.store.jobs(CAMPAIGN_BATCH) if j.state is JobState.DONE)
    page.goto(f"{served.url}/jobs/{job.id}")
    page.wait_for_selector("#live.on")
    page.fill(".review-form textarea", "on brand; ship it")
    page.click(".review-form button.approve")
    page.locator("#toast").filter(has_text="recorded: approved").wait_for()
    # The review arrives back through the stream: on the page's badge and its timeline.
    page.locator('[data-role="review"].verdict-approved').wait_for()
    page.locator("#timeline li.kind-review").wait_for()

    review = served.store.latest_review(job.id)
    assert review is not None
    assert review.verdict is ReviewVerdict.APPROVED
    assert review.note == "on brand; ship it"
    [event] = [e for e in served.store.history(job.id) if e.kind is EventKind.REVIEW]
    assert dict(event.data) == {"verdict": "approved", "note": "on brand; ship it"}

    answer = httpx.get(f"{served.url}/api/events", params={"after": event.id - 1})
    assert answer.status_code == 200, answer.text
    assert _has_review(answer.json(), event.id)

    page.reload()
    page.wait_for_selector("#live.on")
    page.wait_for_function("document.querySelector('video').readyState >= 2")
    _shot(page, "dashboard-job.png", served.folder)


def _has_review(document: Any, event_id: int) -> bool:
    events = document.get("events", document) if isinstance(document, dict) else document
    return any(
        isinstance(e, dict)
        and e.get("id", e.get("event_id")) == event_id
        and e.get("kind") == "review"
        for e in events
    )
