"""The sample index of an MP4: every sample's position, size and timestamps, per track.

Read from ``moov`` alone (no media data), so it costs one small read even for
a remote source. Times are in the track's own ticks and exact: ``pts`` is
when a player presents the sample, i.e. the composition time moved by the
track's edit list exactly as FFmpeg's demuxer (and so Chromium) moves it:
the source timeline every cut uses.

The index is compact: per track, a few columns of integers (``array``), built
from the sample tables with bulk unpacking, about 17 bytes per sample (see
:class:`Samples`); a :class:`Sample` object is made only for a sample asked for.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate, chain, islice, repeat
from operator import add, le, mul, sub
from typing import overload

from pool.mp4.boxes import Box, Mp4Error, ReadAt, parse_boxes, read_moov

for _code, _size in (("I", 4), ("i", 4), ("q", 8)):
    if array(_code).itemsize != _size:  # pragma: no cover - every supported platform
        raise ImportError(f"array typecode {_code!r} is not {_size} bytes here")


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
class ChunkMap:
    """Where samples are: the MP4's own chunk offsets and sample-to-chunk runs.

    Kept as stored (run ``r`` starts at sample ``first_sample[r]`` and chunk
    ``first_chunk[r]``, ``per_chunk[r]`` samples a chunk) rather than expanded
    to one offset per sample: a sample's offset is its chunk's plus the sizes
    of the samples before it in that chunk, found when asked.
    """

    chunk_offsets: array[int]
    first_sample: array[int]
    first_chunk: array[int]
    per_chunk: array[int]

    def offset(self, index: int, sizes: array[int]) -> int:
        run = bisect_right(self.first_sample, index) - 1
        into, spc = index - self.first_sample[run], self.per_chunk[run]
        chunk_first = index - into % spc
        return int(self.chunk_offsets[self.first_chunk[run] + into // spc]) + sum(
            sizes[chunk_first:index]
        )

    def arrays(self) -> tuple[array[int], ...]:
        return (self.chunk_offsets, self.first_sample, self.first_chunk, self.per_chunk)


class Samples(Sequence[Sample]):
    """A track's samples in decode order, as columns of integers (no object per sample).

    ``sizes``, ``pts`` (presentation times, ticks) and ``sync`` (one byte, 1
    for a sync sample) have one entry per sample; ``composition`` holds each
    sample's ``pts - dts`` (None when all are 0), so a decode time is
    ``pts - composition`` and a duration the difference of two decode times
    (``last_duration`` for the last sample); offsets come from ``chunks``.
    Indexing makes a :class:`Sample` for that one sample; a slice, a list.
    """

    __slots__ = ("_ascending", "chunks", "composition", "last_duration", "pts", "sizes", "sync")

    def __init__(
        self,
        sizes: array[int],
        pts: array[int],
        composition: array[int] | None,
        sync: bytearray,
        last_duration: int,
        chunks: ChunkMap,
    ) -> None:
        n = len(sizes)
        if len(pts) != n or len(sync) != n or (composition is not None and len(composition) != n):
            raise Mp4Error("sample columns of different lengths")
        self.sizes = sizes
        self.pts = pts
        self.composition = composition
        self.sync = sync
        self.last_duration = last_duration
        self.chunks = chunks
        self._ascending: bool | None = None

    def __len__(self) -> int:
        return len(self.sizes)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        if isinstance(index, slice):
            return [self._one(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("sample index out of range")
        return self._one(index)

    def __iter__(self) -> Iterator[Sample]:
        return (self._one(i) for i in range(len(self)))

    def dts(self, index: int) -> int:
        """Sample ``index``'s decode time (``index == len(self)``: the end of the last)."""
        if index == len(self):
            return self.dts(index - 1) + self.last_duration
        return int(self.pts[index]) - (0 if self.composition is None else self.composition[index])

    def duration(self, index: int) -> int:
        """Sample ``index``'s duration (decode time to the next sample's)."""
        return self.dts(index + 1) - self.dts(index)

    def ascending(self) -> bool:
        """Whether presentation times never decrease (audio, video without B-frames)."""
        if self._ascending is None:
            self._ascending = all(map(le, self.pts, islice(self.pts, 1, None)))
        return self._ascending

    def offset(self, index: int) -> int:
        """Sample ``index``'s position in the file."""
        return self.chunks.offset(index, self.sizes)

    def _one(self, i: int) -> Sample:
        dts = self.dts(i)
        return Sample(
            offset=self.offset(i),
            size=self.sizes[i],
            dts=dts,
            pts=self.pts[i],
            duration=self.dts(i + 1) - dts,
            sync=bool(self.sync[i]),
        )

    def nbytes(self) -> int:
        """The bytes the columns hold (what the index cache counts)."""
        columns = [self.sizes, self.pts, *self.chunks.arrays()]
        if self.composition is not None:
            columns.append(self.composition)
        return sum(len(c) * c.itemsize for c in columns) + len(self.sync)


def pts_column(samples: Sequence[Sample]) -> Sequence[int]:
    """Every sample's presentation time, without making objects for a :class:`Samples`."""
    return samples.pts if isinstance(samples, Samples) else [s.pts for s in samples]


def sync_column(samples: Sequence[Sample]) -> bytearray:
    """One byte per sample, 1 for a sync sample (see :func:`sync_before`)."""
    return samples.sync if isinstance(samples, Samples) else bytearray(s.sync for s in samples)


def sync_before(sync: bytearray, stop: int) -> Iterator[int]:
    """Indices of the sync samples before ``stop``, latest first."""
    i = sync.rfind(1, 0, max(stop, 0))
    while i >= 0:
        yield i
        i = sync.rfind(1, 0, i)


def sync_from(sync: bytearray, start: int) -> Iterator[int]:
    """Indices of the sync samples from ``start`` on, in order."""
    i = sync.find(1, max(start, 0))
    while i >= 0:
        yield i
        i = sync.find(1, i + 1)


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


def _be(typecode: str, payload: bytes, at: int, count: int) -> array[int]:
    """``count`` big-endian integers of ``typecode``'s size from ``payload[at:]``, in bulk."""
    values = array(typecode)
    end = at + count * values.itemsize
    if count < 0 or end > len(payload):
        raise Mp4Error("sample table shorter than its entry count")
    values.frombytes(payload[at:end])
    if sys.byteorder == "little":
        values.byteswap()
    return values


def _u32s(payload: bytes, at: int, count: int) -> array[int]:
    return _be("I", payload, at, count)


def _count(box: Box) -> int:
    if len(box.payload) < 8:
        raise Mp4Error(f"{box.type.decode('latin-1')} box too short")
    return int(struct.unpack_from(">I", box.payload, 4)[0])


def _sample_entries(stsd: Box) -> list[Box]:
    # stsd is a full box (4 bytes) with an entry count (4) before its entries.
    return [Box(b.type, b.payload) for b in parse_boxes(stsd.payload[8:])]


def _expanded(typecode: str, counts: array[int], values: array[int]) -> array[int]:
    """Run-length rows ``(count, value)`` as one value per item, in bulk."""
    if counts.count(1) == len(counts):
        return array(typecode, values)
    if len(counts) * 16 > sum(counts):  # short runs: one pass at C speed
        return array(typecode, chain.from_iterable(map(repeat, values, counts)))
    out = array(typecode)
    for count, value in zip(counts, values, strict=True):
        out += array(typecode, [value]) * count
    return out


def _runs(box: Box, signed: bool) -> tuple[array[int], array[int]]:
    """An stts/ctts run table as (counts, values)."""
    pairs = _be("i" if signed else "I", box.payload, 8, 2 * _count(box))
    return array("I", pairs[0::2]) if signed else pairs[0::2], pairs[1::2]


def _sizes(stbl: Box) -> array[int]:
    stsz = stbl.find(b"stsz")
    if stsz is None:
        raise Mp4Error("no stsz box (compact sample sizes are not supported)")
    uniform, count = struct.unpack_from(">II", stsz.payload, 4)
    if uniform:
        return array("I", [uniform]) * int(count)
    return _u32s(stsz.payload, 12, int(count))


def _chunk_offsets(stbl: Box) -> array[int]:
    stco = stbl.find(b"stco")
    if stco is not None:
        return _u32s(stco.payload, 8, _count(stco))
    co64 = stbl.find(b"co64")
    if co64 is None:
        raise Mp4Error("no chunk offsets")
    return _be("q", co64.payload, 8, _count(co64))


def _chunk_map(stbl: Box, samples: int) -> ChunkMap:
    """The sample-to-chunk runs, checked to place every sample in a chunk there is."""
    chunks = _chunk_offsets(stbl)
    stsc = stbl.require(b"stsc")
    entries = _u32s(stsc.payload, 8, 3 * _count(stsc))
    firsts, per_chunk = entries[0::3], entries[1::3]
    if not firsts:
        if samples:
            raise Mp4Error("sample-to-chunk table does not cover every sample")
        return ChunkMap(chunks, array("q"), array("q"), array("I"))
    if firsts[0] < 1 or firsts[-1] > len(chunks) + 1:
        raise Mp4Error("sample-to-chunk table outside the chunks")
    # Chunks in each run: up to the next run's first chunk, the last run to the end.
    chunk_runs = array("q", map(sub, firsts[1:], firsts[:-1]))
    chunk_runs.append(len(chunks) + 1 - firsts[-1])
    if min(chunk_runs) < 0:
        raise Mp4Error("sample-to-chunk runs out of order")
    first_sample = array("q", accumulate(map(mul, chunk_runs, per_chunk), initial=0))
    if first_sample.pop() < samples:
        raise Mp4Error("sample-to-chunk table does not cover every sample")
    if min(per_chunk) == 0:  # runs of empty chunks hold no sample: drop them
        keep = [r for r, spc in enumerate(per_chunk) if spc]
        first_sample = array("q", (first_sample[r] for r in keep))
        firsts = array("I", (firsts[r] for r in keep))
        per_chunk = array("I", (per_chunk[r] for r in keep))
    return ChunkMap(chunks, first_sample, array("q", (f - 1 for f in firsts)), per_chunk)


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
    entries = _sample_entries(stbl.require(b"stsd"))
    if len(entries) != 1:
        raise Mp4Error("tracks with several sample descriptions are not supported")
    sizes = _sizes(stbl)
    n = len(sizes)
    chunks = _chunk_map(stbl, n)
    counts, durations = _runs(stbl.require(b"stts"), signed=False)
    if sum(counts) != n:
        raise Mp4Error("time-to-sample table does not match the sample count")
    ctts = stbl.find(b"ctts")
    composition = None
    if ctts is not None:
        ctts_counts, offsets = _runs(ctts, signed=ctts.version == 1)
        if sum(ctts_counts) != n:
            raise Mp4Error("composition offsets do not match the sample count")
        if any(offsets):
            composition = _expanded(offsets.typecode, ctts_counts, offsets)
    sync = bytearray(b"\x01") * n
    stss = stbl.find(b"stss")
    if stss is not None:
        sync = bytearray(n)
        for number in _u32s(stss.payload, 8, _count(stss)):
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
        trak=_without_sample_tables(trak),
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
        decode = accumulate(_expanded("q", counts, durations)[:-1], initial=start)
    times = decode if composition is None else map(add, decode, composition)
    return array("q", times if limit is None else islice(times, limit))


_SAMPLE_TABLES = {b"stts", b"ctts", b"stss", b"stsz", b"stz2", b"stsc", b"stco", b"co64", b"sdtp"}


def _without_sample_tables(box: Box) -> Box:
    """A copy of a ``trak`` tree without the per-sample tables (the index holds them now)."""
    if not box.is_container:
        return box
    kept = [c for c in box.children if c.type not in _SAMPLE_TABLES]
    return Box(box.type, box.payload, [_without_sample_tables(c) for c in kept])


# -- the index as bytes ------------------------------------------------------
#
# A built index, saved so a restarted process loads it instead of parsing the
# moov again: MAGIC, a format version, a JSON header (the caller's key, each
# track's scalars and column shapes), each track's trak box and columns
# (little-endian), then a BLAKE2b digest of everything before it.

INDEX_MAGIC = b"ORIGIDX\n"
INDEX_FORMAT = 1
_DIGEST = 16
_COLUMNS = ("sizes", "pts", "composition", "sync", "chunk_offsets", "first_sample",
            "first_chunk", "per_chunk")  # fmt: skip


def _track_columns(samples: Samples) -> dict[str, array[int] | bytearray | None]:
    chunks = samples.chunks
    return {
        "sizes": samples.sizes,
        "pts": samples.pts,
        "composition": samples.composition,
        "sync": samples.sync,
        "chunk_offsets": chunks.chunk_offsets,
        "first_sample": chunks.first_sample,
        "first_chunk": chunks.first_chunk,
        "per_chunk": chunks.per_chunk,
    }


def _le(values: array[int]) -> bytes:
    if sys.byteorder == "little":
        return values.tobytes()
    swapped = array(values.typecode, values)
    swapped.byteswap()
    return swapped.tobytes()


def dump_movie(movie: Movie, key: str) -> bytes:
    """``movie`` as bytes :func:`load_movie` reads back (given the same ``key``)."""
    tracks: list[dict[str, object]] = []
    blobs: list[bytes] = []
    for track in movie.tracks:
        trak = track.trak.serialize()
        shapes: dict[str, list[object] | None] = {}
        blobs.append(trak)
        for name, column in _track_columns(track.samples).items():
            if column is None:
                shapes[name] = None
            elif isinstance(column, bytearray):
                shapes[name] = ["B", len(column)]
                blobs.append(bytes(column))
            else:
                shapes[name] = [column.typecode, len(column)]
                blobs.append(_le(column))
        tracks.append(
            {
                "track_id": track.track_id,
                "handler": track.handler.decode("latin-1"),
                "timescale": track.timescale,
                "codec": track.codec.decode("latin-1"),
                "last_duration": track.samples.last_duration,
                "trak": len(trak),
                "columns": shapes,
            }
        )
    header = json.dumps({"key": key, "tracks": tracks}, separators=(",", ":")).encode()
    body = b"".join([INDEX_MAGIC, struct.pack("<II", INDEX_FORMAT, len(header)), header, *blobs])
    return body + hashlib.blake2b(body, digest_size=_DIGEST).digest()


def load_movie(data: bytes, key: str) -> Movie:
    """The movie :func:`dump_movie` saved under ``key``; Mp4Error if ``data`` is anything else
    (another format version, another key, damaged or truncated bytes)."""
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if len(data) < len(INDEX_MAGIC) + 8 + _DIGEST or not body.startswith(INDEX_MAGIC):
        raise Mp4Error("not a saved index")
    version, header_size = struct.unpack_from("<II", body, len(INDEX_MAGIC))
    if version != INDEX_FORMAT:
        raise Mp4Error(f"saved index format {version}, not {INDEX_FORMAT}")
    if hashlib.blake2b(body, digest_size=_DIGEST).digest() != digest:
        raise Mp4Error("saved index damaged")
    at = len(INDEX_MAGIC) + 8
    try:
        header = json.loads(body[at : at + header_size])
        at += header_size
        if header["key"] != key:
            raise Mp4Error("saved index of another source")
        view = memoryview(body)
        tracks = []
        for meta in header["tracks"]:
            (trak,) = parse_boxes(bytes(view[at : at + meta["trak"]]))
            at += meta["trak"]
            columns: dict[str, array[int] | bytearray | None] = {}
            for name in _COLUMNS:
                shape = meta["columns"][name]
                if shape is None:
                    columns[name] = None
                    continue
                typecode, count = shape
                if typecode not in ("B", "I", "i", "q") or count < 0:
                    raise Mp4Error(f"saved index column {name} of a bad shape")
                if typecode == "B":
                    columns[name] = bytearray(view[at : at + count])
                    at += count
                    continue
                values = array(typecode)
                values.frombytes(view[at : at + count * values.itemsize])
                at += count * values.itemsize
                if sys.byteorder != "little":
                    values.byteswap()
                columns[name] = values
            tracks.append(_loaded_track(meta, trak, columns))
    except (KeyError, TypeError, ValueError, struct.error) as exc:
        if isinstance(exc, Mp4Error):
            raise
        raise Mp4Error(f"saved index unreadable: {exc}") from None
    if at != len(body):
        raise Mp4Error("saved index has trailing bytes")
    return Movie(tuple(tracks))


def _loaded_track(
    meta: dict[str, object], trak: Box, columns: dict[str, array[int] | bytearray | None]
) -> Track:
    def column(name: str) -> array[int]:
        value = columns[name]
        if not isinstance(value, array):
            raise Mp4Error(f"saved index without {name}")
        return value

    sync = columns["sync"]
    composition = columns["composition"]
    if not isinstance(sync, bytearray) or isinstance(composition, bytearray):
        raise Mp4Error("saved index with a bad column")
    chunks = ChunkMap(
        column("chunk_offsets"), column("first_sample"), column("first_chunk"), column("per_chunk")
    )
    samples = Samples(
        column("sizes"), column("pts"), composition, sync, int(str(meta["last_duration"])), chunks
    )
    return Track(
        track_id=int(str(meta["track_id"])),
        handler=str(meta["handler"]).encode("latin-1"),
        timescale=int(str(meta["timescale"])),
        codec=str(meta["codec"]).encode("latin-1"),
        samples=samples,
        trak=trak,
    )
