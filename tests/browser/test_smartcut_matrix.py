"""Chromium plays and seeks every smart-cut matrix clip, with the clip's duration."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.browser.scripts import PLAY_AND_SEEK
from tests.conftest import SmartMatrix
from tests.matrix import SOURCES

CLIPS = len(SOURCES) * 6


@pytest.mark.parametrize("index", range(CLIPS))
def test_matrix_clip_plays_and_seeks(
    browser: Browser, smart_matrix: SmartMatrix, index: int
) -> None:
    clip = smart_matrix.clips[index]
    page = browser.new_page()
    try:
        page.goto(smart_matrix.server.base_url + "/healthz")  # same origin as the clip
        seen = page.evaluate(PLAY_AND_SEEK, clip.clip["url"])
    finally:
        page.close()
    length = float(clip.end - clip.start)
    assert seen["error"] is None, clip.id
    assert seen["duration"] == pytest.approx(length, abs=0.05), clip.id
    assert seen["durationAtEnd"] == pytest.approx(length, abs=0.05), clip.id
    assert seen["painted"][0] == 0
    assert max(seen["painted"]) < length
    assert seen["seekedTo"] == pytest.approx(0.8 * length, abs=0.05)
    assert any(abs(t - 0.8 * length) <= 0.1 for t in seen["paintedAfterSeek"]), clip.id
