"""Write a regular MP4 (``ftyp``, ``moov``, ``mdat``: index first) from sample lists.

The samples' bytes come from elsewhere (a source file, an encoder's output);
each sample says where, and :func:`write_mp4` copies them into ``mdat`` in
interleaved chunks of about a second, so a player streaming the file from
the start finds audio and video close together. Nothing here depends on the
clock or the machine: the same samples give the same bytes.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

from pool.mp4.boxes import Box, Mp4Error, full_box, table_box
from pool.mp4.index import Track
from pool.mp4.timing import Timing, timing_boxes

_CHUNK_SECONDS = Fraction(1)
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_FTYP = Box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")


@dataclass(frozen=True)
class SampleRef:
    """Where a sample's bytes are: which input, at what offset, how many.

    ``patches`` (start, end, data), in order and apart, replace byte ranges
    of those with other bytes in the written sample (empty ``data`` leaves
    the range out).
    """

    input: int
    offset: int
    size: int
    patches: tuple[tuple[int, int, bytes], ...] = ()

    @property
    def length(self) -> int:
        """The size of the sample as written."""
        return self.size + sum(len(data) - (end - start) for start, end, data in self.patches)

    def written(self, data: bytes) -> bytes:
        """The sample's bytes as written, from the ``size`` bytes read at ``offset``."""
        if len(data) != self.size:
            raise Mp4Error("a sample could not be read in full")
        if not self.patches:
            return data
        kept, pos = [], 0
        for start, end, new in self.patches:
            kept += [data[pos:start], new]
            pos = end
        return b"".join([*kept, data[pos:]])


@dataclass(frozen=True)
class OutSample:
    """One sample of the file being written, with its output timing (track ticks)."""

    ref: SampleRef
    dts: int
    composition_offset: int  # pts - dts, never negative
    duration: int
    sync: bool


@dataclass(frozen=True)
class OutTrack:
    """A track to write: its samples in decode order and how to present them.

    ``template`` supplies the boxes that do not change (handler, media
    header, ``stsd`` unless ``sample_entry`` replaces its entry). The first
    sample decodes at 0. The track shows nothing for ``delay`` seconds (an
    empty edit), then the media from media time ``media_start`` (track
    ticks), for ``presentation`` seconds in all, delay included (by default
    to the end of the media). An edit list is written only when needed to
    say that.
    """

    template: Track
    samples: Sequence[OutSample]
    media_start: int = 0
    presentation: Fraction | None = None
    delay: Fraction = Fraction(0)
    sample_entry: Box | None = None


#: Returns the ``size`` bytes at a sample's ``offset`` in its input.
ReadSample = Callable[[SampleRef], bytes]


def write_mp4(out: BinaryIO, tracks: Sequence[OutTrack], read: ReadSample) -> int:
    """Write the MP4 to ``out``; return its size.

    The movie timescale (of durations and edit lists) is the first track's.
    """
    if not tracks or any(not t.samples for t in tracks):
        raise Mp4Error("every track needs samples")
    chunks = _chunks(tracks)
    payload = sum(s.ref.length for t in tracks for s in t.samples)
    large = payload > 0xFFFFFFFF - (1 << 24)
    # The moov's size does not depend on the offset values, only on their width.
    placeholder = _moov(tracks, chunks, {}, large).serialize()
    mdat_header = 16 if large else 8
    start = len(_FTYP.serialize()) + len(placeholder) + mdat_header
    offsets: dict[tuple[int, int], int] = {}
    position = start
    for track_no, first, count in chunks:
        offsets[track_no, first] = position
        position += sum(s.ref.length for s in tracks[track_no].samples[first : first + count])
    moov = _moov(tracks, chunks, offsets, large).serialize()
    if len(moov) != len(placeholder):
        raise Mp4Error("moov size changed between layout passes")
    out.write(_FTYP.serialize())
    out.write(moov)
    mdat_size = payload + mdat_header
    out.write(
        struct.pack(">I4sQ", 1, b"mdat", mdat_size)
        if large
        else struct.pack(">I4s", mdat_size, b"mdat")
    )
    for track_no, first, count in chunks:
        for sample in tracks[track_no].samples[first : first + count]:
            out.write(sample.ref.written(read(sample.ref)))
    return position


def _chunks(tracks: Sequence[OutTrack]) -> list[tuple[int, int, int]]:
    """(track, first sample, count) per chunk, in file order: by start time, then track."""
    found: list[tuple[Fraction, int, int, int]] = []
    for track_no, track in enumerate(tracks):
        span = _CHUNK_SECONDS * track.template.timescale  # in the track's ticks
        samples = track.samples
        first = 0
        for i in range(1, len(samples)):
            if samples[i].dts - samples[first].dts >= span:
                found.append(
                    (track.template.seconds(samples[first].dts), track_no, first, i - first)
                )
                first = i
        found.append(
            (track.template.seconds(samples[first].dts), track_no, first, len(samples) - first)
        )
    found.sort(key=lambda c: (c[0], c[1]))
    return [(t, first, count) for _, t, first, count in found]


def _media_duration(track: OutTrack) -> int:
    last = track.samples[-1]
    return last.dts + last.duration


def _movie_timescale(tracks: Sequence[OutTrack]) -> int:
    # The first (video) track's: Firefox reads an empty edit's length in
    # that track's ticks, whatever the movie timescale says.
    return tracks[0].template.timescale


def _edits(track: OutTrack, movie_scale: int) -> list[tuple[int, int, int]]:
    """The track's edit list in movie ticks: an optional empty edit, then the media."""
    delay = round(track.delay * movie_scale)
    if track.presentation is not None:
        total = round(track.presentation * movie_scale)
    else:
        media = _media_duration(track) - track.media_start
        total = delay + round(Fraction(media * movie_scale, track.template.timescale))
    if delay >= total:
        raise Mp4Error("the track's delay fills its whole presentation")
    edits = [(delay, -1, 1 << 16)] if delay else []
    return [*edits, (total - delay, track.media_start, 1 << 16)]


def _presentation(track: OutTrack, movie_scale: int) -> int:
    return sum(duration for duration, _, _ in _edits(track, movie_scale))


def _moov(
    tracks: Sequence[OutTrack],
    chunks: list[tuple[int, int, int]],
    offsets: dict[tuple[int, int], int],
    large: bool,
) -> Box:
    movie_scale = _movie_timescale(tracks)
    duration = max(_presentation(t, movie_scale) for t in tracks)
    mvhd = full_box(
        b"mvhd",
        1,
        struct.pack(">QQIQ", 0, 0, movie_scale, duration)
        + struct.pack(">IH10x", 0x10000, 0x100)
        + _MATRIX
        + bytes(24)
        + struct.pack(">I", len(tracks) + 1),
    )
    traks = [
        _trak(no, track, [c for c in chunks if c[0] == no], offsets, large, movie_scale)
        for no, track in enumerate(tracks)
    ]
    return Box(b"moov", children=[mvhd, *traks])


def _trak(
    no: int,
    track: OutTrack,
    chunks: list[tuple[int, int, int]],
    offsets: dict[tuple[int, int], int],
    large: bool,
    movie_scale: int,
) -> Box:
    template = track.template.trak
    presentation = _presentation(track, movie_scale)
    old_tkhd = template.find(b"tkhd")
    if old_tkhd is None:
        raise Mp4Error("template track without tkhd")
    # tkhd: keep flags, layer, volume, matrix and size; set ids, times and duration.
    tail = old_tkhd.payload[-60:]  # reserved(8) layer volume reserved matrix width height
    tkhd = full_box(
        b"tkhd",
        1,
        struct.pack(">QQIIQ", 0, 0, no + 1, 0, presentation) + tail,
        flags=int.from_bytes(old_tkhd.payload[1:4], "big"),
    )
    children = [tkhd]
    if track.media_start or track.presentation is not None or track.delay:
        elst = table_box(b"elst", _edits(track, movie_scale), ">QqI", version=1)
        children.append(Box(b"edts", children=[elst]))
    old_mdhd = template.descend(b"mdia", b"mdhd")
    old_hdlr = template.descend(b"mdia", b"hdlr")
    old_minf = template.descend(b"mdia", b"minf")
    if old_mdhd is None or old_hdlr is None or old_minf is None:
        raise Mp4Error("template track without mdhd, hdlr or minf")
    language = old_mdhd.payload[-4:-2]
    mdhd = full_box(
        b"mdhd",
        1,
        struct.pack(">QQIQ", 0, 0, track.template.timescale, _media_duration(track))
        + language
        + b"\x00\x00",
    )
    minf_heads = [c for c in old_minf.children if c.type in (b"vmhd", b"smhd", b"nmhd", b"dinf")]
    minf = Box(b"minf", children=[*minf_heads, _stbl(track, chunks, offsets, large)])
    children.append(Box(b"mdia", children=[mdhd, old_hdlr, minf]))
    return Box(b"trak", children=children)


def _stbl(
    track: OutTrack,
    chunks: list[tuple[int, int, int]],
    offsets: dict[tuple[int, int], int],
    large: bool,
) -> Box:
    samples = track.samples
    entry = track.sample_entry or track.template.sample_entry
    stsd = full_box(b"stsd", 0, struct.pack(">I", 1) + entry.serialize())
    deltas = [b.dts - a.dts for a, b in itertools.pairwise(samples)]
    if any(d <= 0 for d in deltas):
        raise Mp4Error("decode times must increase")
    timings = [
        Timing(s.dts, s.dts + s.composition_offset, step)
        for s, step in zip(samples, [*deltas, samples[-1].duration], strict=True)
    ]
    boxes = [stsd, *timing_boxes(timings)]
    if not all(s.sync for s in samples):
        boxes.append(table_box(b"stss", [(i + 1,) for i, s in enumerate(samples) if s.sync], ">I"))
    stsc_rows: list[tuple[int, int, int]] = []
    for chunk_no, (_, _, count) in enumerate(chunks, start=1):
        if not stsc_rows or stsc_rows[-1][1] != count:
            stsc_rows.append((chunk_no, count, 1))
    boxes.append(table_box(b"stsc", stsc_rows, ">III"))
    stsz = full_box(
        b"stsz",
        0,
        struct.pack(">II", 0, len(samples))
        + struct.pack(f">{len(samples)}I", *(s.ref.length for s in samples)),
    )
    boxes.append(stsz)
    chunk_offsets = [(offsets.get((t, first), 0),) for t, first, _ in chunks]
    boxes.append(
        table_box(b"co64", chunk_offsets, ">Q")
        if large
        else table_box(b"stco", chunk_offsets, ">I")
    )
    return Box(b"stbl", children=boxes)
