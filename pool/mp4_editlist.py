"""Trim an MP4's presentation to an exact duration by rewriting its edit lists.

A stream copy that ends mid-GOP must carry the frames the last B-frames refer
to, and ffmpeg's edit list does not cut them off: the clip would end up to a
few frames late (see NOTES.md). Browsers and ffmpeg honour an edit list's
segment duration, so shortening it makes the clip end exactly where it should,
without re-encoding. Tracks without an edit list get one; when ``moov`` sits
before ``mdat`` (``+faststart``) that moves the media, so chunk offsets shift.
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path

from pool.mp4_boxes import Box, Mp4Error, file_reader, parse_boxes, top_level
from pool.mp4_index import read_track

# -- fields of the full boxes we touch --------------------------------------


def _mvhd_timescale(mvhd: Box) -> int:
    offset = 20 if mvhd.version == 1 else 12
    return int(struct.unpack_from(">I", mvhd.payload, offset)[0])


def _set_duration(box: Box, v0_offset: int, v1_offset: int, value: int) -> None:
    """Write a 32-bit (version 0) or 64-bit (version 1) duration field."""
    payload = bytearray(box.payload)
    if box.version == 1:
        struct.pack_into(">Q", payload, v1_offset, value)
    else:
        if value > 0xFFFFFFFF:
            raise Mp4Error("duration does not fit a version 0 box")
        struct.pack_into(">I", payload, v0_offset, value)
    box.payload = bytes(payload)


def _read_elst(elst: Box) -> list[tuple[int, int, int]]:
    """(segment_duration, media_time, rate) of every entry."""
    v1 = elst.version == 1
    (count,) = struct.unpack_from(">I", elst.payload, 4)
    entry = ">QqI" if v1 else ">IiI"
    step = struct.calcsize(entry)
    return [struct.unpack_from(entry, elst.payload, 8 + i * step) for i in range(count)]


def _write_elst(elst: Box, entries: list[tuple[int, int, int]]) -> None:
    v1 = elst.version == 1
    entry = ">QqI" if v1 else ">IiI"
    elst.payload = (
        elst.payload[:4]
        + struct.pack(">I", len(entries))
        + b"".join(struct.pack(entry, *e) for e in entries)
    )


def _new_edts(segment_duration: int, media_time: int) -> Box:
    """An edit list that shows the media from ``media_time`` for ``segment_duration``."""
    version = 1 if max(segment_duration, media_time) > 0x7FFFFFFF else 0
    elst = Box(b"elst", bytes([version, 0, 0, 0]) + struct.pack(">I", 0))
    _write_elst(elst, [(segment_duration, media_time, 1 << 16)])
    return Box(b"edts", children=[elst])


def _first_presentation_time(trak: Box) -> int:
    """The earliest composition time of the track's samples, in media ticks.

    Without an edit list that is when the first frame shows: with B-frames it
    is not 0, and a new edit list must start there to keep the first frame at 0.
    """
    return min((s.pts for s in read_track(trak).samples), default=0)


def _trim_track(trak: Box, limit: int) -> int:
    """Cut the track's presentation to at most ``limit`` movie ticks; return its new length."""
    tkhd = trak.find(b"tkhd")
    if tkhd is None:
        raise Mp4Error("track without tkhd")
    edts = trak.find(b"edts")
    elst = edts.find(b"elst") if edts else None
    if elst is None:
        current = int(
            struct.unpack_from(">Q", tkhd.payload, 28)[0]
            if tkhd.version == 1
            else struct.unpack_from(">I", tkhd.payload, 20)[0]
        )
        length = min(current, limit)
        if edts is not None:
            trak.children.remove(edts)
        edit = _new_edts(length, _first_presentation_time(trak))
        trak.children.insert(trak.children.index(tkhd) + 1, edit)
    else:
        entries = _read_elst(elst)
        kept: list[tuple[int, int, int]] = []
        length = 0
        for duration, media_time, rate in entries:
            if length >= limit:
                break
            duration = min(duration, limit - length)
            kept.append((duration, media_time, rate))
            length += duration
        _write_elst(elst, kept)
    _set_duration(tkhd, 20, 28, length)
    return length


def _shift_chunk_offsets(moov: Box, delta: int) -> None:
    for trak in moov.find_all(b"trak"):
        stbl = trak.descend(b"mdia", b"minf", b"stbl")
        if stbl is None:
            continue
        for table in stbl.children:
            if table.type not in (b"stco", b"co64"):
                continue
            fmt = ">I" if table.type == b"stco" else ">Q"
            (count,) = struct.unpack_from(">I", table.payload, 4)
            step = struct.calcsize(fmt)
            payload = bytearray(table.payload)
            for i in range(count):
                (value,) = struct.unpack_from(fmt, payload, 8 + i * step)
                if table.type == b"stco" and value + delta > 0xFFFFFFFF:
                    raise Mp4Error("chunk offset overflow; would need co64")
                struct.pack_into(fmt, payload, 8 + i * step, value + delta)
            table.payload = bytes(payload)


def trim_presentation(path: Path, duration: Fraction) -> None:
    """Make every track of the MP4 at ``path`` present for at most ``duration`` seconds.

    Rewrites ``moov`` in place when its size is unchanged; otherwise rewrites
    the file through a sibling temporary and an atomic rename.
    """
    top = top_level(*file_reader(path))
    moov_at = next((b for b in top if b.type == b"moov"), None)
    if moov_at is None:
        raise Mp4Error("no moov box")
    with path.open("rb") as f:
        f.seek(moov_at.offset)
        [moov] = parse_boxes(f.read(moov_at.size))

    mvhd = moov.find(b"mvhd")
    if mvhd is None:
        raise Mp4Error("no mvhd box")
    limit = round(duration * _mvhd_timescale(mvhd))
    lengths = [_trim_track(trak, limit) for trak in moov.find_all(b"trak")]
    _set_duration(mvhd, 16, 24, max(lengths, default=0))

    new_moov = moov.serialize()
    delta = len(new_moov) - moov_at.size
    if delta == 0:
        with path.open("r+b") as f:
            f.seek(moov_at.offset)
            f.write(new_moov)
        return
    if any(b.type == b"mdat" and b.offset > moov_at.offset for b in top):
        _shift_chunk_offsets(moov, delta)
        new_moov = moov.serialize()
    temp = path.with_name(path.name + ".elst")
    try:
        with path.open("rb") as src, temp.open("wb") as dst:
            dst.write(src.read(moov_at.offset))
            dst.write(new_moov)
            src.seek(moov_at.offset + moov_at.size)
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
