"""Make a stream-copied MP4 present exactly its clip: a new ``moov`` put in front.

A stream copy that ends mid-GOP must carry the frames the last B-frames refer
to, and ffmpeg's edit list does not cut them off: the clip would end up to a
few frames late (see NOTES.md). Browsers and ffmpeg honour an edit list's
segment duration, so shortening it makes the clip end exactly where it should,
without re-encoding. The start is made exact too: the first frame shows at
its source time minus the clip's start, even when the start falls between two
frames. The samples' decode steps are retimed so every player takes the track
to end where the clip does (:mod:`pool.mp4.timing`).

ffmpeg writes its index last (no ``+faststart``, which would copy the whole
file once more); this module writes ``ftyp``, the new ``moov``, then the media
as it is (one kernel copy), with chunk offsets moved accordingly: one pass
that also puts the index first, as players streaming the clip want.
"""

from __future__ import annotations

import os
import shutil
import struct
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from pool.mp4.boxes import Box, Mp4Error, TopLevel, parse_boxes, table_box, top_level
from pool.mp4.index import (
    Track,
    edit_entries,
    handler_of,
    media_timescale_of,
    movie_timescale_of,
    read_track,
)
from pool.mp4.timing import Timing, exact_end, timing_boxes

#: Top-level boxes that only pad: not copied into the new file.
_PADDING = {b"free", b"skip", b"wide"}


def _exact_edits(
    track: Track, edits: list[tuple[int, int, int]], movie_scale: int
) -> tuple[Fraction, int]:
    """How long the track should show nothing (seconds), and from which media time.

    ffmpeg's edit list says which media time is the clip's time 0. A clip
    start between two frames falls inside the frame before it, and FFmpeg's
    demuxer (Chromium's too) would then show the next frame at 0 instead of
    a little later. So for video the media segment starts exactly at the
    first frame shown, after an empty edit as long as the gap. Audio keeps
    its start inside an AAC frame: decoders skip the samples before it.
    """
    scale = track.timescale
    empty = Fraction(0)
    if edits and edits[0][1] == -1:
        empty, edits = Fraction(edits[0][0], movie_scale), edits[1:]
    # Without an edit list the media shows from its first frame.
    media_time = edits[0][1] if edits else min(track.samples.pts, default=0)
    if track.handler != b"vide":
        return empty, media_time
    zero = media_time - empty * scale  # the media time shown at the clip's time 0
    first = min((p for p in track.samples.pts if p >= zero), default=media_time)
    return (first - zero) / scale, first


def _set_field(box: Box, v0: tuple[int, str], v1: tuple[int, str], value: int) -> None:
    """Write one field of a full box: (offset, struct format) by the box's version."""
    offset, fmt = v1 if box.version == 1 else v0
    if fmt == ">I" and value > 0xFFFFFFFF:
        raise Mp4Error(f"{box.type.decode()} field does not fit a version 0 box")
    payload = bytearray(box.payload)
    struct.pack_into(fmt, payload, offset, value)
    box.payload = bytes(payload)


def _exact_track(trak: Box, old_scale: int, movie_scale: int, duration: Fraction) -> None:
    """Give ``trak`` exact edits, steps and durations for a clip of ``duration`` seconds."""
    # Composition times as stored: the edit list is what is rewritten.
    unedited = [c for c in trak.children if c.type != b"edts"]
    track = read_track(Box(trak.type, children=unedited))
    if not track.samples:
        return
    delay, media_time = _exact_edits(track, edit_entries(trak), old_scale)
    delay = min(delay, duration)
    length = round((duration - delay) * track.timescale)
    timings = [Timing(s.dts, s.pts, s.duration) for s in track.samples]
    last = timings[-1]
    # A track that stops before the clip's end (audio shorter than the video) is left so.
    if last.pts + last.duration >= media_time + length:
        timings = exact_end(timings, media_time, length, delayed=delay > 0) or timings
    stbl = trak.require(b"mdia", b"minf", b"stbl")
    stbl.children = [
        box
        for old in stbl.children
        if old.type != b"ctts"
        for box in (timing_boxes(timings) if old.type == b"stts" else [old])
    ]
    _set_field(
        trak.require(b"mdia", b"mdhd"),
        (16, ">I"),
        (24, ">Q"),
        timings[-1].dts + timings[-1].duration,
    )

    total = round(duration * movie_scale)
    empty = min(total, round(delay * movie_scale))
    edits = [(empty, -1, 1 << 16)] if empty else []
    if total > empty:
        edits.append((total - empty, media_time, 1 << 16))
    tkhd = trak.require(b"tkhd")
    trak.children = unedited
    elst = table_box(b"elst", edits, ">QqI", version=1)
    trak.children.insert(trak.children.index(tkhd) + 1, Box(b"edts", children=[elst]))
    _set_field(tkhd, (20, ">I"), (28, ">Q"), total)


def _chunk_tables(moov: Box) -> list[Box]:
    tables = []
    for trak in moov.find_all(b"trak"):
        stbl = trak.require(b"mdia", b"minf", b"stbl")
        tables += [t for t in stbl.children if t.type in (b"stco", b"co64")]
    return tables


def _chunk_offsets(table: Box) -> list[int]:
    (count,) = struct.unpack_from(">I", table.payload, 4)
    return list(struct.unpack_from(f">{count}{'I' if table.type == b'stco' else 'Q'}",
                                   table.payload, 8))  # fmt: skip


def _place_chunks(tables: list[tuple[Box, list[int]]], moves: list[tuple[TopLevel, int]]) -> None:
    """Write each table's chunk offsets (given as they were) for the media's new places.

    ``moves`` pairs each media box with its new offset. Offsets become 64-bit
    (``co64``) where a 32-bit table can no longer hold them.
    """
    for table, old in tables:
        new = []
        for offset in old:
            found = [(box, to) for box, to in moves if box.offset <= offset < box.offset + box.size]
            if not found:
                raise Mp4Error("a chunk lies outside the media boxes")
            box, to = found[0]
            new.append(offset - box.offset + to)
        wide = table.type == b"co64" or max(new, default=0) > 0xFFFFFFFF
        table.type = b"co64" if wide else b"stco"
        table.payload = table.payload[:8] + struct.pack(f">{len(new)}{'Q' if wide else 'I'}", *new)


def _copy(src: BinaryIO, dst: BinaryIO, offset: int, size: int) -> None:
    """Append ``size`` bytes at ``offset`` of ``src`` to ``dst``, in the kernel if it can."""
    dst.flush()
    try:
        done = 0
        while done < size:
            sent = os.copy_file_range(src.fileno(), dst.fileno(), size - done, offset + done)
            if sent == 0:
                raise Mp4Error("the file ends inside a box")
            done += sent
    except OSError:  # another file system, or an old kernel
        src.seek(offset)
        dst.seek(0, os.SEEK_END)
        remaining = size
        while remaining:
            block = src.read(min(remaining, 1 << 20))
            if not block:
                raise Mp4Error("the file ends inside a box") from None
            dst.write(block)
            remaining -= len(block)
    dst.seek(0, os.SEEK_END)


def trim_presentation(path: Path, duration: Fraction) -> None:
    """Make every track of the MP4 at ``path`` present for exactly ``duration`` seconds.

    The first video frame keeps the time ffmpeg's edit list gives it (the
    source time minus the clip's start); see :func:`_exact_edits`. The file
    is replaced atomically by one with its index first.
    """
    # Ends in .tmp like the cache's own temporaries: a crash leaves nothing it keeps.
    temp = path.with_name(path.name + ".elst.tmp")
    try:
        with path.open("rb") as src, temp.open("wb") as dst:

            def read_at(offset: int, size: int) -> bytes:
                src.seek(offset)
                return src.read(size)

            top = top_level(read_at, os.fstat(src.fileno()).st_size)
            ftyp = next((b for b in top if b.type == b"ftyp"), None)
            moov_at = next((b for b in top if b.type == b"moov"), None)
            if ftyp is None or moov_at is None:
                raise Mp4Error("not an MP4 file (no ftyp or no moov box)")
            [moov] = parse_boxes(read_at(moov_at.offset, moov_at.size))
            old_scale = movie_timescale_of(moov)
            traks = moov.find_all(b"trak")
            if not traks:
                raise Mp4Error("no tracks")
            kinds = [handler_of(t) for t in traks]
            video = traks[kinds.index(b"vide")] if b"vide" in kinds else traks[0]
            # Firefox reads an empty edit's length in the track's own ticks, whatever
            # the movie timescale says: make them the same.
            movie_scale = media_timescale_of(video)
            for trak in traks:
                _exact_track(trak, old_scale, movie_scale, duration)
            mvhd = moov.require(b"mvhd")
            _set_field(mvhd, (12, ">I"), (20, ">I"), movie_scale)
            _set_field(mvhd, (16, ">I"), (24, ">Q"), round(duration * movie_scale))

            media = [b for b in top if b.type not in (b"ftyp", b"moov", *_PADDING)]
            tables = [(t, _chunk_offsets(t)) for t in _chunk_tables(moov)]

            def layout(moov_size: int) -> list[tuple[TopLevel, int]]:
                position = ftyp.size + moov_size
                moves = []
                for box in media:
                    moves.append((box, position))
                    position += box.size
                return moves

            # The moov's size depends on its offsets' width only: twice is enough.
            size = len(moov.serialize())
            _place_chunks(tables, layout(size))
            if len(moov.serialize()) != size:
                size = len(moov.serialize())
                _place_chunks(tables, layout(size))
            new_moov = moov.serialize()
            if len(new_moov) != size:
                raise Mp4Error("moov size changed between layout passes")
            dst.write(read_at(ftyp.offset, ftyp.size))
            dst.write(new_moov)
            for box in media:
                _copy(src, dst, box.offset, box.size)
        shutil.copymode(path, temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
