"""The sample index of an MP4: every sample's position, size and timestamps, per track.

Read from ``moov`` alone (no media data), so it costs one small read even for
a remote source. Times are in the track's own ticks and exact: ``pts`` is
when a player presents the sample, i.e. the composition time moved by the
track's edit list exactly as FFmpeg's demuxer (and so Chromium) moves it:
the source timeline every cut uses.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate

from pool.mp4.boxes import Box, Mp4Error, ReadAt, parse_boxes, read_moov


@dataclass(frozen=True)
class Sample:
    """One sample (an access unit): where its bytes are and when it decodes and shows."""

    offset: int
    size: int
    dts: int  # decode time, moved by the edit list like pts (so pts - dts is the stored offset)
    pts: int
    duration: int
    sync: bool


@dataclass(frozen=True)
class Track:
    """One track's samples in decode order, with the boxes needed to describe it again."""

    track_id: int
    handler: bytes  # b"vide", b"soun", ...
    timescale: int
    codec: bytes  # the sample entry's four-character code, e.g. b"avc1", b"mp4a"
    samples: tuple[Sample, ...]
    trak: Box  # the original box tree (tkhd, hdlr, stsd, ...)

    @property
    def sample_entry(self) -> Box:
        """The first (and only supported) sample description."""
        stsd = self.trak.require(b"mdia", b"minf", b"stbl", b"stsd")
        return _sample_entries(stsd)[0]

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


def _u32s(payload: bytes, at: int, count: int) -> tuple[int, ...]:
    return struct.unpack_from(f">{count}I", payload, at)


def _count(box: Box) -> int:
    return int(struct.unpack_from(">I", box.payload, 4)[0])


def _sample_entries(stsd: Box) -> list[Box]:
    # stsd is a full box (4 bytes) with an entry count (4) before its entries.
    return [Box(b.type, b.payload) for b in parse_boxes(stsd.payload[8:])]


def _runs(box: Box, signed: bool) -> list[int]:
    """Expand an stts/ctts run table to one value per sample."""
    count = _count(box)
    pairs = struct.unpack_from(f">{2 * count}{'i' if signed else 'I'}", box.payload, 8)
    values: list[int] = []
    for n, value in zip(pairs[0::2], pairs[1::2], strict=True):
        values.extend([int(value)] * int(n))
    return values


def _sizes(stbl: Box) -> list[int]:
    stsz = stbl.find(b"stsz")
    if stsz is None:
        raise Mp4Error("no stsz box (compact sample sizes are not supported)")
    uniform, count = struct.unpack_from(">II", stsz.payload, 4)
    if uniform:
        return [int(uniform)] * int(count)
    return list(_u32s(stsz.payload, 12, int(count)))


def _chunk_offsets(stbl: Box) -> tuple[int, ...]:
    stco = stbl.find(b"stco")
    if stco is not None:
        return _u32s(stco.payload, 8, _count(stco))
    co64 = stbl.find(b"co64")
    if co64 is None:
        raise Mp4Error("no chunk offsets")
    return struct.unpack_from(f">{_count(co64)}Q", co64.payload, 8)


def _offsets(stbl: Box, sizes: list[int]) -> list[int]:
    """Each sample's file offset, from chunk offsets, sample-to-chunk runs and sizes."""
    chunks = _chunk_offsets(stbl)
    stsc = stbl.require(b"stsc")
    entries = _u32s(stsc.payload, 8, 3 * _count(stsc))
    firsts, per_chunk = entries[0::3], entries[1::3]
    offsets: list[int] = []
    sample = 0
    for run, first in enumerate(firsts):
        last = firsts[run + 1] - 1 if run + 1 < len(firsts) else len(chunks)
        for chunk in range(first - 1, last):
            position = chunks[chunk]
            for _ in range(per_chunk[run]):
                if sample >= len(sizes):
                    return offsets
                offsets.append(position)
                position += sizes[sample]
                sample += 1
    if len(offsets) != len(sizes):
        raise Mp4Error("sample-to-chunk table does not cover every sample")
    return offsets


def edit_entries(trak: Box) -> list[tuple[int, int, int]]:
    """The track's edit list as (segment duration, media time, rate) entries; [] without one."""
    elst = trak.descend(b"edts", b"elst")
    if elst is None:
        return []
    fmt = ">QqI" if elst.version == 1 else ">IiI"
    return [
        struct.unpack_from(fmt, elst.payload, 8 + i * struct.calcsize(fmt))
        for i in range(_count(elst))
    ]


def _presentation_shift(
    trak: Box, timescale: int, movie_timescale: int | None, composition: list[tuple[int, int]]
) -> int:
    """Ticks to add to a sample's composition time to get its presentation time.

    ``composition`` is each sample's (composition time, duration). An edit
    list that starts showing the media at ``media_time`` moves every sample
    back by it, and a leading empty edit (nothing shown for a while, as when a
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
    late = min((c - media_time for c, _ in composition if c >= media_time), default=0)
    return empty - media_time - late


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
    entries = _sample_entries(stbl.require(b"stsd"))
    if len(entries) != 1:
        raise Mp4Error("tracks with several sample descriptions are not supported")
    sizes = _sizes(stbl)
    offsets = _offsets(stbl, sizes)
    durations = _runs(stbl.require(b"stts"), signed=False)
    if len(durations) != len(sizes):
        raise Mp4Error("time-to-sample table does not match the sample count")
    ctts = stbl.find(b"ctts")
    composition = _runs(ctts, signed=ctts.version == 1) if ctts else [0] * len(sizes)
    if len(composition) != len(sizes):
        raise Mp4Error("composition offsets do not match the sample count")
    stss = stbl.find(b"stss")
    sync = set(_u32s(stss.payload, 8, _count(stss))) if stss else None
    decode = list(accumulate(durations, initial=0))
    shift = _presentation_shift(
        trak,
        timescale,
        movie_timescale,
        [(decode[i] + composition[i], durations[i]) for i in range(len(sizes))],
    )
    dts = [d + shift for d in decode]
    samples = tuple(
        Sample(
            offset=offsets[i],
            size=sizes[i],
            dts=dts[i],
            pts=dts[i] + composition[i],
            duration=durations[i],
            sync=sync is None or (i + 1) in sync,
        )
        for i in range(len(sizes))
    )
    return Track(
        track_id=track_id,
        handler=handler_of(trak),
        timescale=timescale,
        codec=entries[0].type,
        samples=samples,
        trak=trak,
    )
