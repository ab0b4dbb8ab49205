"""What a browser sees: a clip URL plays, seeks and has the clip's duration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.browser.scripts import PLAY, PLAY_AND_SEEK
from tests.conftest import Databases
from tests.servers import Server, register, start_server


@pytest.fixture(scope="module")
def clips_and_servers(
    databases: Databases, sample_video: Path, session_dir: Path
) -> Iterator[tuple[list[dict[str, Any]], Server, Server]]:
    dsn = databases.create()
    clips = register(dsn, sample_video, "--cuts", "3.7,12.4,20.1")["clips"]
    file_server = start_server(session_dir / "browser-file", {"DATABASE_URL": dsn})
    pipe_server = start_server(
        session_dir / "browser-pipe", {"DATABASE_URL": dsn, "ORIGIN_STREAM_MODE": "pipe"}
    )
    yield clips, file_server, pipe_server
    file_server.stop()
    pipe_server.stop()
    databases.drop(dsn)


def open_page(browser: Browser, server: Server) -> Any:
    page = browser.new_page()
    page.goto(server.base_url + "/healthz")  # same origin as the clips
    return page


@pytest.mark.parametrize("index", [1, 2])
def test_file_mode_clip_plays_seeks_and_has_the_clip_duration(
    browser: Browser, clips_and_servers: tuple[list[dict[str, Any]], Server, Server], index: int
) -> None:
    clips, file_server, _ = clips_and_servers
    clip = clips[index]
    page = open_page(browser, file_server)
    try:
        seen = page.evaluate(PLAY_AND_SEEK, clip["url"])
    finally:
        page.close()
    length = clip["end"] - clip["start"]
    assert seen["error"] is None
    assert seen["duration"] == pytest.approx(length, abs=0.05)
    # The timeline starts at 0: the pre-roll before the cut is not shown ...
    assert seen["painted"][0] == 0
    # ... and nothing after the cut is shown either.
    assert max(seen["painted"]) < length
    assert seen["seekedTo"] == pytest.approx(0.8 * length, abs=0.05)
    # The frame at the seek target is painted (a callback for a frame painted
    # just before the seek may still arrive after it, so look for it, not first).
    assert any(abs(t - 0.8 * length) <= 0.1 for t in seen["paintedAfterSeek"])


def test_duration_stays_exact_after_playing_to_the_end(
    browser: Browser, clips_and_servers: tuple[list[dict[str, Any]], Server, Server]
) -> None:
    """With the edit list (ORIGIN_PRECISION=editlist) the copy keeps the frame the last
    B-frames refer to, hidden; Chromium stretched duration to it once played to the end.
    The smart cut re-encodes that tail instead, so there is nothing to stretch to."""
    clips, file_server, _ = clips_and_servers
    clip = clips[1]
    page = open_page(browser, file_server)
    try:
        seen = page.evaluate(PLAY_AND_SEEK, clip["url"])
    finally:
        page.close()
    assert seen["durationAtEnd"] == pytest.approx(clip["end"] - clip["start"], abs=0.05)


def test_pipe_mode_clip_plays(
    browser: Browser, clips_and_servers: tuple[list[dict[str, Any]], Server, Server]
) -> None:
    clips, _, pipe_server = clips_and_servers
    page = open_page(browser, pipe_server)
    try:
        seen = page.evaluate(PLAY, clips[1]["url"])
    finally:
        page.close()
    assert seen["error"] is None
    assert seen["currentTime"] > 0.5
