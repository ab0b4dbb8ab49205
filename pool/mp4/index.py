"""The sample index of an MP4: every sample's position, size and timestamps, per track.

Read from ``moov`` alone (no media data), so it costs one small read even for
a remote source. Times are in the track's own ticks and exact: ``pts`` is
when a player presents the sample, i.e. the composition time moved by the
track's edit list exactly as FFmpeg's demuxer (and so Chromium) moves it:
the source timeline every cut uses.

The index is compact: per track, a few columns of integers
(:class:`~pool.mp4.samples.Samples`), built from the sample tables with bulk
unpacking (:mod:`pool.mp4.sample_tables`). :mod:`pool.mp4.index_file` saves
and loads a built index.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate, islice, repeat
from operator import add

from pool.mp4.boxes import Box, Mp4Error, ReadAt, read_moov
from pool.mp4.sample_tables import (
    chunk_map,
    entry_count,
    expanded,
    runs,
    sample_entries,
    sample_sizes,
    u32s,
    without_sample_tables,
)
from pool.mp4.samples import Samples


@dataclass(frozen=True)
class Track:
    """One track's samples in decode order, with the boxes needed to describe it again."""

    track_id: int
    handler: bytes  # b"vide", b"soun", ...
    timescale: int
    codec: bytes  # the sample entry's four-character code, e.g. b"avc1", b"mp4a"
    samples: Samples
    trak: Box  # the original box tree (tkhd, hdlr, stsd, ...), less the sample tables

    @property
    def sample_entry(self) -> Box:
        """The first (and only supported) sample description."""
        stsd = self.trak.require(b"mdia", b"minf", b"stbl", b"stsd")
        return sample_entries(stsd)[0]

    def seconds(self, ticks: int) -> Fraction:
        """Track ticks as exact seconds."""
        return Fraction(ticks, self.timescale)


@dataclass(frozen=True)
class Movie:
    """The tracks of one MP4."""

    tracks: tuple[Track, ...]

    def first(self, handler: bytes) -> Track | None:
        """The first track of a kind (``b"vide"``, ``b"soun"``)."""
        return next((t for t in self.tracks if t.handler == handler), None)

    def nbytes(self) -> int:
        """About the memory the index holds: its columns and the boxes kept."""
        return sum(t.samples.nbytes() + len(t.trak.serialize()) for t in self.tracks)


def read_movie(read_at: ReadAt, file_size: int) -> Movie:
    """Index every track of the MP4 read through ``read_at``.

    Raises Mp4Error for anything this index does not describe faithfully:
    fragmented files, several sample descriptions, edit lists that are more
    than a start offset (after an optional empty edit).
    """
    moov = read_moov(read_at, file_size)
    if moov.find(b"mvex") is not None:
        raise Mp4Error("fragmented MP4")
    movie_timescale = movie_timescale_of(moov)
    return Movie(tuple(read_track(trak, movie_timescale) for trak in moov.find_all(b"trak")))


def media_timescale_of(trak: Box) -> int:
    """A track's ``mdhd`` timescale: the unit of its samples' times."""
    mdhd = trak.require(b"mdia", b"mdhd")
    timescale = int(struct.unpack_from(">I", mdhd.payload, 20 if mdhd.version == 1 else 12)[0])
    if timescale <= 0:
        raise Mp4Error("track timescale is zero")
    return timescale


def movie_timescale_of(moov: Box) -> int:
    """The ``mvhd`` timescale: the unit of edit-list and track durations."""
    mvhd = moov.require(b"mvhd")
    return int(struct.unpack_from(">I", mvhd.payload, 20 if mvhd.version == 1 else 12)[0])


def edit_entries(trak: Box) -> list[tuple[int, int, int]]:
    """The track's edit list as (segment duration, media time, rate) entries; [] without one."""
    elst = trak.descend(b"edts", b"elst")
    if elst is None:
        return []
    fmt = ">QqI" if elst.version == 1 else ">IiI"
    return [
        struct.unpack_from(fmt, elst.payload, 8 + i * struct.calcsize(fmt))
        for i in range(entry_count(elst))
    ]


def _presentation_shift(
    trak: Box,
    timescale: int,
    movie_timescale: int | None,
    composition: Callable[[int | None], array[int]],
) -> int:
    """Ticks to add to a sample's composition time to get its presentation time.

    ``composition(limit)`` makes the first ``limit`` (None: all) samples'
    composition times (asked only for video with an edit). An edit list
    that starts showing the media at ``media_time`` moves every sample back
    by it, and a leading empty edit (nothing shown for a while, as when a
    track starts after the others) moves them forward by its length. This is
    the timeline players present, FFmpeg's demuxer (and so Chromium) included,
    with its one refinement for video: when the first frame shown does not
    start where the edit does, that frame is moved to the edit's start.
    Anything else (several media segments, other rates) is refused.
    """
    entries = edit_entries(trak)
    empty = 0
    if entries and entries[0][1] == -1:
        if movie_timescale is None:
            raise Mp4Error("an empty edit needs the movie timescale")
        empty = round(Fraction(entries[0][0] * timescale, movie_timescale))
        entries = entries[1:]
    if not entries:
        return empty
    if len(entries) != 1 or entries[0][1] < 0 or entries[0][2] != 1 << 16:
        raise Mp4Error(
            "edit lists other than a start offset (after an empty edit) are not supported"
        )
    media_time = int(entries[0][1])
    if handler_of(trak) != b"vide":
        return empty - media_time
    # Frames before the edit are hidden; the first one shown starts the edit.
    if media_time in composition(256):  # the usual case: the edit starts on a frame
        return empty - media_time
    first = min(filter(media_time.__le__, composition(None)), default=media_time)
    return empty - media_time - (first - media_time)


def handler_of(trak: Box) -> bytes:
    """A track's handler type: ``b"vide"``, ``b"soun"``, ..."""
    return trak.require(b"mdia", b"hdlr").payload[8:12]


def read_track(trak: Box, movie_timescale: int | None = None) -> Track:
    """Index one ``trak`` box (see :func:`read_movie`).

    ``movie_timescale`` (the ``mvhd``'s) is needed only when the edit list
    begins with an empty edit, whose length is in movie ticks.
    """
    tkhd = trak.require(b"tkhd")
    track_id = int(struct.unpack_from(">I", tkhd.payload, 20 if tkhd.version == 1 else 12)[0])
    timescale = media_timescale_of(trak)
    stbl = trak.require(b"mdia", b"minf", b"stbl")
    entries = sample_entries(stbl.require(b"stsd"))
    if len(entries) != 1:
        raise Mp4Error("tracks with several sample descriptions are not supported")
    sizes = sample_sizes(stbl)
    n = len(sizes)
    chunks = chunk_map(stbl, n)
    counts, durations = runs(stbl.require(b"stts"), signed=False)
    if sum(counts) != n:
        raise Mp4Error("time-to-sample table does not match the sample count")
    ctts = stbl.find(b"ctts")
    composition = None
    if ctts is not None:
        ctts_counts, offsets = runs(ctts, signed=ctts.version == 1)
        if sum(ctts_counts) != n:
            raise Mp4Error("composition offsets do not match the sample count")
        if any(offsets):
            composition = expanded(offsets.typecode, ctts_counts, offsets)
    sync = bytearray(b"\x01") * n
    stss = stbl.find(b"stss")
    if stss is not None:
        sync = bytearray(n)
        for number in u32s(stss.payload, 8, entry_count(stss)):
            if 0 < number <= n:
                sync[number - 1] = 1
    shift = _presentation_shift(
        trak,
        timescale,
        movie_timescale,
        lambda limit: _pts(counts, durations, composition, 0, limit),
    )
    return Track(
        track_id=track_id,
        handler=handler_of(trak),
        timescale=timescale,
        codec=entries[0].type,
        samples=Samples(
            sizes,
            _pts(counts, durations, composition, shift),
            composition,
            sync,
            int(durations[-1]) if n else 0,
            chunks,
        ),
        trak=without_sample_tables(trak),
    )


def _pts(
    counts: array[int],
    durations: array[int],
    composition: array[int] | None,
    start: int,
    limit: int | None = None,
) -> array[int]:
    """Presentation times: decode times from ``start`` (stts) plus composition offsets.

    Only the first ``limit`` samples' when given.
    """
    if len(counts) == 1:  # constant durations
        step = durations[0]
        decode: Iterable[int] = (
            range(start, start + step * counts[0], step) if step else repeat(start, counts[0])
        )
    else:
        decode = accumulate(expanded("q", counts, durations)[:-1], initial=start)
    times = decode if composition is None else map(add, decode, composition)
    return array("q", times if limit is None else islice(times, limit))
