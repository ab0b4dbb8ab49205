"""The review page in headless Chromium: play, step, split on the shown frame, move a cut,
merge, undo (checked in the database each time), live updates, play all, visible errors.

Every test fails on any console error, failed request or HTTP error the page meets.
Screenshots at 1280x720 and 390x844 go to ``$ORIGIN_TEST_ARTIFACTS`` (default: the
session directory), where the README's come from.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import Databases, run_async
from tests.servers import Server, register, start_server

FPS = 30
FRAME = 1 / FPS
SIZES = {"desktop": (1280, 720), "phone": (390, 844)}

# The picture on screen as numbers: the video drawn on a canvas, in grey levels.
PIXELS = """() => {
  const video = document.getElementById("player-a");
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(video, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const grey = [];
  for (let i = 0; i < data.length; i += 16) grey.push((data[i] + data[i + 1] + data[i + 2]) / 3);
  return grey;
}"""


@dataclass
class Review:
    server: Server
    dsn: str
    artifacts: Path
    problems: list[str] = field(default_factory=list)

    def open(self, browser: Browser, size: str = "desktop", source_id: int = 1) -> Page:
        width, height = SIZES[size]
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        page.on("requestfailed", lambda r: self._failed(r.url, r.failure or ""))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"{r.status} {r.url}"))  # fmt: skip
        page.goto(f"{self.server.base_url}/review/sources/{source_id}")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        return page

    def _failed(self, url: str, failure: str) -> None:
        # An open event stream is cut when a page closes, and a player that
        # switches to another clip drops the download of the one it had: the
        # browser aborts those requests itself; that is not a failure.
        aborted = "ERR_ABORTED" in failure and ("/events" in url or "/videos/clips/" in url)
        if not aborted:
            self.problems.append(f"failed {url}: {failure}")

    def clips(self) -> list[tuple[Decimal, Decimal, int]]:
        async def read() -> list[tuple[Decimal, Decimal, int]]:
            conn = await asyncpg.connect(self.dsn)
            try:
                rows = await conn.fetch(
                    "SELECT start_s, end_s, version FROM clips WHERE source_id = 1 ORDER BY start_s"
                )
            finally:
                await conn.close()
            return [(r["start_s"], r["end_s"], r["version"]) for r in rows]

        return run_async(read)

    def shot(self, page: Page, name: str) -> None:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(self.artifacts / f"{name}.png"), full_page=True)


@pytest.fixture
def review(databases: Databases, sample_video: Path, session_dir: Path) -> Iterator[Review]:
    dsn = databases.create()
    register(dsn, sample_video, "--every", "5", env={"ORIGIN_CLIP_STORE": "none"})
    server = start_server(session_dir / f"review-{dsn.rsplit('_', 1)[1]}", {"DATABASE_URL": dsn})
    artifacts = Path(os.environ.get("ORIGIN_TEST_ARTIFACTS", session_dir / "artifacts"))
    try:
        yield Review(server, dsn, artifacts)
    finally:
        server.stop()
        databases.drop(dsn)


def wait_done(page: Page, what: str) -> None:
    page.wait_for_function(
        "w => { const t = document.getElementById('message').textContent;"
        " return t.startsWith(w) && t.endsWith(': done'); }",
        arg=what, timeout=20_000,
    )  # fmt: skip


def shown(page: Page) -> tuple[int, float]:
    """(frame number in the clip, source time) of the frame on screen, as the page says."""
    return (
        int(page.text_content("#frame-label") or "0"),
        float(page.text_content("#source-time") or "0"),
    )


def mean_difference(a: list[float], b: list[float]) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def test_edit_on_the_shown_frame_move_merge_undo(browser: Browser, review: Review) -> None:
    page = review.open(browser)
    length = page.evaluate("document.getElementById('player-a').duration")
    assert length == pytest.approx(5.0, abs=FRAME)
    page.keyboard.press("Space")
    page.wait_for_function("document.getElementById('player-a').currentTime > 0.3")
    page.keyboard.press("Space")
    page.wait_for_function("document.getElementById('play').textContent === 'Play'")

    # Frame-step to frame 46 of clip 1 (1.5 s: mid-GOP, keyframes every 2 s).
    page.click("#prev-clip")  # back to the clip's first frame
    page.wait_for_function("document.getElementById('frame-label').textContent === '1'")
    for _ in range(45):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("document.getElementById('frame-label').textContent === '46'")
    page.wait_for_timeout(300)
    frame, at = shown(page)
    assert (frame, at) == (46, pytest.approx(1.5, abs=1e-6))
    before = page.evaluate(PIXELS)
    neighbour_diff = None

    page.keyboard.press("s")
    wait_done(page, "split clip 1 at 1.500 s")
    assert review.clips()[:3] == [
        (Decimal("0"), Decimal("1.5"), 2), (Decimal("1.5"), Decimal("5"), 1),
        (Decimal("5"), Decimal("10"), 1),
    ]  # fmt: skip
    page.wait_for_function("document.getElementById('frame-label').textContent === '1'")
    page.wait_for_timeout(300)
    first_of_new = page.evaluate(PIXELS)
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.getElementById('frame-label').textContent === '2'")
    page.wait_for_timeout(300)
    neighbour_diff = mean_difference(first_of_new, page.evaluate(PIXELS))
    # The new clip's first painted frame is the frame that was on screen (a
    # re-encoded copy of it: near, not equal), not its neighbour.
    assert mean_difference(before, first_of_new) < neighbour_diff / 3

    page.click("#end-plus-frame")
    wait_done(page, "move the end of clip")
    clips = review.clips()
    assert clips[1][1] == clips[2][0] == Decimal("5.033333")

    page.keyboard.press("j")  # clip 1 again
    page.wait_for_function(
        "document.getElementById('clip-label').textContent.startsWith('clip #1 ')"
    )
    page.keyboard.press("m")
    wait_done(page, "merge clip 1 with clip")
    assert review.clips()[:2] == [(Decimal("0"), Decimal("5.033333"), 3),
                                  (Decimal("5.033333"), Decimal("10"), 2)]  # fmt: skip

    page.keyboard.press("z")
    wait_done(page, "undo: split clip 1 again")
    clips = review.clips()
    assert [(s, e) for s, e, _ in clips[:3]] == [
        (Decimal("0"), Decimal("1.5")), (Decimal("1.5"), Decimal("5.033333")),
        (Decimal("5.033333"), Decimal("10")),
    ]  # fmt: skip
    assert page.locator("#clips tr").count() == len(clips)
    review.shot(page, "review-desktop")
    assert review.problems == []
    page.close()


def test_two_pages_see_each_others_edits_within_a_second(browser: Browser, review: Review) -> None:
    first, second = review.open(browser), review.open(browser)
    second.click("#next-clip")  # the second reviewer watches clip 2
    second.wait_for_function(
        "document.getElementById('clip-label').textContent.startsWith('clip #2 ')"
    )
    first.click("#next-clip")
    first.wait_for_function(
        "document.getElementById('clip-label').textContent.startsWith('clip #2 ')"
    )
    first.click("#end-plus-second")
    wait_done(first, "move the end of clip 2")
    second.wait_for_function(
        "document.getElementById('clip-label').textContent === 'clip #2 v2'", timeout=1_000
    )
    assert "changed by another reviewer" in (second.text_content("#message") or "")
    assert second.locator("#clips tr").nth(1).text_content().find("11.000") > 0
    assert review.problems == []


def test_play_all_crosses_clip_boundaries_without_a_gap(
    browser: Browser, databases: Databases, sample_video: Path, session_dir: Path
) -> None:
    dsn = databases.create()
    register(dsn, sample_video, "--every", "1", env={"ORIGIN_CLIP_STORE": "none"})
    server = start_server(session_dir / "review-play-all", {"DATABASE_URL": dsn})
    review = Review(server, dsn, session_dir)
    try:
        page = review.open(browser)
        page.click("#play-all")
        page.wait_for_function("window.reviewStats.gaps.length >= 3", timeout=20_000)
        gaps = page.evaluate("window.reviewStats.gaps")
        page.click("#play-all")
        # One frame interval between the last frame of a clip and the first of
        # the next is continuous playback; more than two would be a visible gap.
        assert max(gaps[:3]) <= 2 * FRAME * 1000 + 4, gaps
        assert review.problems == []
    finally:
        server.stop()
        databases.drop(dsn)


def test_a_refused_edit_shows_its_message_and_changes_nothing(
    browser: Browser, review: Review
) -> None:
    page = review.open(browser, size="phone")
    review.shot(page, "review-phone")
    before = review.clips()
    page.click("#end-minus-second")  # 5 s → 4 s: fine
    wait_done(page, "move the end of clip 1")
    for _ in range(4):
        page.click("#end-minus-second")
        page.wait_for_timeout(200)
    page.wait_for_function(
        "document.getElementById('message').className === 'error'", timeout=10_000
    )
    message = page.text_content("#message") or ""
    assert "refused" in message
    assert review.clips()[0][1] > 0
    assert page.locator("#clips tr").count() == len(before)
    # The refusal itself: the response, and Chromium's console line about it.
    review.problems = [p for p in review.problems if "422" not in p]
    assert review.problems == []


@pytest.mark.parametrize("size", SIZES)
def test_the_index_shows_sources_as_cards(browser: Browser, review: Review, size: str) -> None:
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(review.server.base_url + "/")
    card = page.locator(".card")
    assert card.count() == 1
    text = card.text_content() or ""
    assert "sample.mp4" in text
    assert "file://" not in text
    assert "0:30.0" in text
    page.wait_for_function("document.querySelector('.card img').complete")
    assert page.evaluate("document.querySelector('.card img').naturalWidth") > 0
    review.shot(page, f"index-{size}")
    page.close()
