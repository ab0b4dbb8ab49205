"""What Chromium and Firefox show of every corpus clip: the right frames, the right length.

For each clip, the first frame painted, a frame mid-clip and the frame an
ended clip keeps showing are drawn onto a canvas and compared with the
source's frames around them (decoded by ffmpeg, turned upright as players
turn them): the nearest must be the one the clip should show there, not a
neighbour, not the keyframe before the cut, not a reference copied after the
end. The
duration must be the clip's, when loaded and after playing to the end.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.marionette import Marionette
from tests.browser.scripts import SHOW_CLIP
from tests.corpus.matrix import CASES, Corpus, CorpusClip
from tests.corpus.pictures import nearest, neighbours, shown_size, source_pictures
from tests.corpus.recipes import RECIPES

DURATION_TOLERANCE_S = 0.05
#: A frame shown for less than this (two refreshes at 60 Hz) may never be painted.
BRIEF_FRAME_S = 2 / 60
ENGINES = ("chromium", "firefox")
#: Firefox ignores an edit list's start and shows the pre-roll a stream copy
#: hides (tests/browser/test_firefox.py shows it): clips of sources that fall
#: back to the edit list are exact in Chromium only.
CLIPS = [
    (engine, recipe.name, case)
    for engine in ENGINES
    for recipe in RECIPES
    if engine == "chromium" or recipe.precision == "smart"
    for case in range(len(CASES))
]
IDS = [f"{e}-{name}-{CASES[case].replace(' ', '-')}" for e, name, case in CLIPS]


@pytest.fixture(scope="module")
def chromium_page(browser: Browser, corpus: Corpus) -> Iterator[Page]:
    page = browser.new_page()
    page.goto(corpus.server.base_url + "/healthz")  # the clips' origin: canvases stay readable
    yield page
    page.close()


@pytest.fixture(scope="module")
def firefox_page(firefox_session: Marionette, corpus: Corpus) -> Marionette:
    # An HTML page of the origin (Firefox's JSON viewer, which /healthz opens, refuses media).
    firefox_session.navigate(corpus.server.base_url + "/")
    return firefox_session


def painted(data: str, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    rgba = np.frombuffer(base64.b64decode(data), np.uint8).reshape(height, width, 4)
    return rgba[:, :, :3]


def show(engine: str, request: pytest.FixtureRequest, argument: dict[str, Any]) -> Any:
    if engine == "chromium":
        page: Page = request.getfixturevalue("chromium_page")
        return page.evaluate(SHOW_CLIP, argument)
    session: Marionette = request.getfixturevalue("firefox_page")
    return session.call(SHOW_CLIP, argument)


@pytest.mark.parametrize(("engine", "name", "case"), CLIPS, ids=IDS)
def test_browser_shows_the_clip_frames_for_the_clip_length(
    corpus: Corpus, ffmpeg: str, request: pytest.FixtureRequest,
    engine: str, name: str, case: int,
) -> None:  # fmt: skip
    clip = CorpusClip(corpus.sources[name], case)
    where = str(clip)
    source = clip.source
    size = shown_size(source)
    frames = source.frames
    first = frames.index(clip.frames[0])
    middle = frames.index(clip.frames[len(clip.frames) // 2])
    following = frames[middle + 1].time if middle + 1 < len(frames) else clip.end
    # A file without sound may be measured from its first frame (Chromium's
    # duration at load, Firefox's throughout), and Firefox starts its timeline
    # there too: a clip without sound whose first frame shows after its start
    # (the gap is an empty edit) is that much shorter there, and earlier in Firefox.
    origin = clip.start if source.has_audio else frames[first].time
    timeline = origin if engine == "firefox" else clip.start
    # A quarter into the middle frame's display time: clear of rounding at its edges.
    mid = frames[middle].time + (following - frames[middle].time) / 4 - timeline
    # The middle frame's start, less a millisecond for rounding.
    earliest = float(frames[middle].time - timeline) - 0.001
    seen = show(engine, request, {
        "url": clip.clip["url"], "mid": float(mid), "earliest": earliest,
        "width": size[0], "height": size[1],
    })  # fmt: skip

    unplayable = source.recipe.unplayable_in.get(engine)
    if unplayable is not None:
        # The browser plays the sound and shows no picture (or refuses the file).
        # Kept as a check, so that a browser that learns to play it gets noticed.
        shown_nothing = seen["error"] is not None or seen["shape"] == [0, 0]
        assert shown_nothing, (where, f"{engine} shows it now; the recipe says: {unplayable}")
        return
    assert seen["error"] is None, (where, seen["error"])
    # Without sound, a browser may measure from the first frame (see above).
    lengths = {float(clip.end - clip.start), float(clip.end - origin)}
    for reading in ("duration", "durationAtEnd"):
        near = [n for n in lengths if abs(seen[reading] - n) <= DURATION_TOLERANCE_S]
        assert near, (where, reading, seen[reading], lengths)

    # Each grab waited for the browser to present a frame (the middle one or later).
    assert seen["firstAt"] is not None, (where, "no frame presented after loading")
    assert seen["middleAt"] is not None, (where, "no frame presented after seeking")

    keyframe_before = max(
        (n for n, f in enumerate(frames) if f.time <= clip.start and f.time in source.keyframes),
        default=first,
    )
    around = neighbours(source, first) | {keyframe_before}
    near_middle = neighbours(source, middle)
    # The clip's last frame, or the one after it: a reference its last B-frames need,
    # copied and hidden by the edit list's end (pool/cutting/smart_plan.py).
    last = frames.index(clip.frames[-1])
    near_last = neighbours(source, last)
    pictures = source_pictures(ffmpeg, source, around | near_middle | near_last, size)
    got, distances = nearest(painted(seen["first"], size), {i: pictures[i] for i in around})
    assert got == first, (where, "first frame painted", got - first, distances)
    got, distances = nearest(painted(seen["middle"], size), {i: pictures[i] for i in near_middle})
    assert got == middle, (where, "mid-clip frame painted", got - middle, distances)
    got, distances = nearest(painted(seen["last"], size), {i: pictures[i] for i in near_last})
    # A last frame shown only briefly (the clip ends soon after it starts) can end the
    # playback before it is painted; the one before it then stays (ff-vfr, 1 run in 2).
    shown_last_s = float(clip.end - frames[last].time)
    painted_last = {last, last - 1} if shown_last_s < BRIEF_FRAME_S else {last}
    assert got in painted_last, (
        where,
        "frame painted at the end",
        got - last,
        shown_last_s,
        distances,
    )
