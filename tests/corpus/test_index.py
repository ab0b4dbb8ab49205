"""pool/mp4/index.py presents every sample when FFmpeg's demuxer (Chromium's) does.

The smart cut plans from the index; registration and the checks here read
times through ffmpeg. They must be one timeline, for the sources (edit
lists, empty edits, no edit list) and for the clips the origin writes.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from pool.mp4.boxes import file_reader
from pool.mp4.index import read_movie
from tests.corpus.matrix import Corpus
from tests.corpus.recipes import RECIPES
from tests.mediacheck import packets

INDEXED = [recipe.name for recipe in RECIPES if recipe.precision != "container"]


def assert_same_times(ffmpeg: str, path: Path) -> None:
    movie = read_movie(*file_reader(path))
    for handler, stream in ((b"vide", "v:0"), (b"soun", "a:0")):
        track = movie.first(handler)
        if track is None:
            assert packets(ffmpeg, path, stream) == [], path
            continue
        indexed = sorted(Fraction(s.pts, track.timescale) for s in track.samples)
        demuxed = sorted(p.time for p in packets(ffmpeg, path, stream))
        assert indexed == demuxed, (path.name, handler)


@pytest.mark.parametrize("name", INDEXED)
def test_the_index_times_a_source_as_ffmpeg_does(corpus: Corpus, ffmpeg: str, name: str) -> None:
    assert_same_times(ffmpeg, corpus.sources[name].path)


@pytest.mark.parametrize("name", [recipe.name for recipe in RECIPES])
def test_the_index_times_the_origins_clips_as_ffmpeg_does(
    corpus: Corpus, ffmpeg: str, name: str
) -> None:
    for clip in corpus.sources[name].clips:
        assert_same_times(ffmpeg, corpus.clip_file(clip))
