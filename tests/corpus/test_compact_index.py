"""The compact index (pool/mp4/index.py) against ffmpeg's own packet listing, sample by sample.

For every corpus source ffmpeg lists each packet in decode order (framecrc:
dts, pts, duration, size, Adler-32 of its bytes, key flag). The index must
give the same for every sample, and the bytes at the offset it computes must
have that checksum: an independent check of offsets, sizes, times and sync
flags, not a comparison with the index's earlier code. A saved and loaded
index must give the same samples again.
"""

from __future__ import annotations

import zlib
from fractions import Fraction
from pathlib import Path

import pytest

from pool.mp4.boxes import file_reader
from pool.mp4.index import Track, read_movie
from pool.mp4.index_file import dump_movie, load_movie
from tests.corpus.generate import generate_named
from tests.corpus.recipes import RECIPES
from tests.mediacheck import is_key, packet_rows

INDEXED = [recipe.name for recipe in RECIPES if recipe.precision != "container"]


def ffmpeg_packets(ffmpeg: str, path: Path, stream: str) -> list[tuple[Fraction, ...]]:
    """(dts, pts, duration, size, adler32, key) of each packet of ``stream``, in decode order."""
    time_base, rows = packet_rows(ffmpeg, path, stream)
    return [
        (
            int(r[1]) * time_base,
            int(r[2]) * time_base,
            int(r[3]) * time_base,
            Fraction(int(r[4])),
            Fraction(int(r[5], 16)),
            Fraction(is_key(r)),
        )
        for r in rows
    ]


def indexed_packets(track: Track, data: bytes) -> list[tuple[Fraction, ...]]:
    scale = track.timescale
    return [
        (
            Fraction(s.dts, scale),
            Fraction(s.pts, scale),
            Fraction(s.duration, scale),
            Fraction(s.size),
            Fraction(zlib.adler32(data[s.offset : s.offset + s.size], 0)),  # FFmpeg starts at 0
            Fraction(s.sync),
        )
        for s in track.samples
    ]


@pytest.mark.parametrize("name", INDEXED)
def test_every_sample_is_the_packet_ffmpeg_reads(ffmpeg: str, name: str) -> None:
    path = generate_named(name, ffmpeg)
    movie = read_movie(*file_reader(path))
    data = path.read_bytes()
    for handler, stream in ((b"vide", "v:0"), (b"soun", "a:0")):
        track = movie.first(handler)
        expected = ffmpeg_packets(ffmpeg, path, stream)
        if track is None:
            assert expected == [], (name, handler)
            continue
        assert indexed_packets(track, data) == expected, (name, handler)


@pytest.mark.parametrize("name", INDEXED)
def test_a_saved_index_loads_the_same_samples(ffmpeg: str, name: str) -> None:
    movie = read_movie(*file_reader(generate_named(name, ffmpeg)))
    loaded = load_movie(dump_movie(movie, name), name)
    assert [(t.track_id, t.handler, t.timescale, t.codec) for t in loaded.tracks] == [
        (t.track_id, t.handler, t.timescale, t.codec) for t in movie.tracks
    ]
    for before, after in zip(movie.tracks, loaded.tracks, strict=True):
        assert list(after.samples) == list(before.samples)
        assert after.trak.serialize() == before.trak.serialize()
        assert after.sample_entry == before.sample_entry
