"""Registration probes from the MP4 index: the same facts the full packet scan reports.

For every corpus source the index path (``moov`` only) must say exactly what
ffmpeg listing every packet says: duration, keyframes, frame count, codecs,
size, aspect, rotation; and every frame's time. Sources the index does not
read (fragmented MP4s) keep the scan, and registration says which was used.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pool.mp4.boxes import Mp4Error, file_reader
from pool.mp4.index import read_movie
from pool.sources.frames import MICROS_PER_SECOND, shown_frame_micros
from pool.sources.index_probe import IndexProbeUnsupported, probe_movie
from pool.sources.probe import probe
from tests.corpus.generate import generate_named
from tests.corpus.matrix import Corpus
from tests.corpus.recipes import RECIPES
from tests.mediacheck import packets

NAMES = [recipe.name for recipe in RECIPES]
INDEXED = [recipe.name for recipe in RECIPES if recipe.precision != "container"]


@pytest.mark.parametrize("name", NAMES)
def test_the_index_probe_says_what_the_packet_scan_says(ffmpeg: str, name: str) -> None:
    path = generate_named(name, ffmpeg)
    scanned = probe(ffmpeg, f"file:{path}")
    try:
        movie = read_movie(*file_reader(path))
        indexed = probe_movie(movie)
    except (Mp4Error, struct.error, IndexProbeUnsupported):
        assert name not in INDEXED, f"{name}: the index probe should read it"
        return
    assert indexed == scanned
    video = movie.first(b"vide")
    assert video is not None
    demuxed = sorted(
        int(p.time * MICROS_PER_SECOND // 1) for p in packets(ffmpeg, path, "v:0") if p.time >= 0
    )
    assert list(shown_frame_micros(video)) == demuxed
    assert len(demuxed) == scanned.frame_count


@pytest.mark.parametrize("name", NAMES)
def test_registration_says_how_it_probed(corpus: Corpus, name: str) -> None:
    registered = corpus.sources[name].registered
    source = corpus.sources[name].path
    if name in INDEXED:
        assert registered["probe"] == "index"
        # The moov, the first 64 KiB and the first bytes of a few keyframes at most.
        assert registered["probe_bytes"] <= moov_bytes(source) + 64 * 1024 + 16 * 4096
    else:
        assert registered["probe"] == "scan"
        assert registered["probe_bytes"] >= source.stat().st_size


def moov_bytes(path: Path) -> int:
    """The size of the file's moov box (0 without one)."""
    with path.open("rb") as f:
        while header := f.read(8):
            size, kind = struct.unpack(">I4s", header)
            if kind == b"moov":
                return int(size)
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0] - 8
            f.seek(size - 8, 1)
    return 0
