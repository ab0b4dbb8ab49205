"""What registration says of each corpus source, and what the origin does with it."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.corpus.matrix import Corpus
from tests.corpus.recipes import RECIPES
from tests.mediacheck import packets
from tests.servers import scrape, value

NAMES = [recipe.name for recipe in RECIPES]
FALLBACKS = [recipe.name for recipe in RECIPES if recipe.precision != "smart"]


@pytest.mark.parametrize("name", NAMES)
def test_the_registered_duration_is_the_end_of_the_last_frame(
    corpus: Corpus, ffmpeg: str, name: str
) -> None:
    source = corpus.sources[name]
    video = packets(ffmpeg, source.path, "v:0")
    last_end = max(p.time + p.duration for p in video)
    assert abs(Fraction(str(source.registered["duration"])) - last_end) <= Fraction(1, 10**6)
    assert source.clips[0]["start"] == 0
    assert source.clips[-1]["end"] == source.registered["duration"]


@pytest.mark.parametrize("name", NAMES)
def test_registration_says_how_clips_are_cut_and_how_they_look(corpus: Corpus, name: str) -> None:
    source = corpus.sources[name]
    registered = source.registered
    smart = source.recipe.precision == "smart"
    assert registered["precision"] == ("smart" if smart else "editlist")
    edit_list_warnings = [w for w in registered["warnings"] if "edit list, not the smart" in w]
    assert len(edit_list_warnings) == (0 if smart else 1), registered["warnings"]
    if not smart:
        assert registered["precision_reason"] in edit_list_warnings[0]
    width, height = source.frames[0].size
    turned = source.recipe.rotation in (90, 270)
    assert registered["rotation"] == source.recipe.rotation
    assert (registered["display_width"], registered["display_height"]) == (
        (height, width) if turned else (width, height)
    )


@pytest.mark.parametrize("name", ["ff-open-gop", "ff-open-gop-pyramid", "gst-x264-open-gop"])
def test_an_open_gop_source_is_smart_cut_from_rewritten_keyframes(
    corpus: Corpus, name: str
) -> None:
    # Behaviour change: clips with no IDR inside used to be re-encoded whole.
    registered = corpus.sources[name].registered
    assert registered["precision"] == "smart"
    assert registered["precision_reason"].startswith("open GOP")
    assert "rewritten into an IDR picture" in registered["precision_reason"]
    assert registered["warnings"] == [registered["precision_reason"]]


@pytest.mark.parametrize("name", FALLBACKS)
def test_a_fallback_is_counted_with_its_reason(corpus: Corpus, name: str) -> None:
    source = corpus.sources[name]
    for clip in source.clips:
        corpus.clip_file(clip)
    with corpus.server.client() as http:
        counted = value(
            scrape(http), "origin_smartcut_fallbacks_total", reason=source.recipe.precision
        )
    assert counted >= len(source.clips)
