"""Probe a source from its MP4 index alone: what :func:`pool.sources.probe.probe` says,
without listing every packet.

Everything comes from ``moov`` (read by :mod:`pool.mp4.index`): the sample
tables give the frames' presentation times on the timeline the rest of the
project uses (edit list applied as FFmpeg's demuxer applies it), the sync
samples the keyframes, the sample entries the codecs and coded size, the
``avcC``'s SPS the sample aspect ratio, the ``tkhd`` matrix the rotation. No
media data is read. What this cannot tell the way the packet scan would
(fragmented files, an unknown codec, an unusual display matrix) raises
:class:`IndexProbeUnsupported`, and the caller scans instead.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from itertools import compress, islice
from operator import add, sub

from pool.mp4 import avc
from pool.mp4.boxes import Box, Mp4Error, parse_boxes
from pool.mp4.index import Movie, Track
from pool.sources.probe import ProbeError, ProbeResult

#: What ffmpeg calls every file of the ISO base media family.
MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"

VISUAL_ENTRY_HEADER = 78  # bytes of a VisualSampleEntry before its child boxes
AUDIO_ENTRY_HEADER = {0: 28, 1: 44, 2: 64}  # by the QuickTime sound description version

#: Sample-entry codes → ffmpeg's codec names, where the code alone decides.
_VIDEO = {b"avc1": "h264", b"avc3": "h264", b"hvc1": "hevc", b"hev1": "hevc", b"av01": "av1",
          b"vp09": "vp9"}  # fmt: skip
_AUDIO = {b"Opus": "opus", b"fLaC": "flac", b"ac-3": "ac3", b"ec-3": "eac3", b".mp3": "mp3",
          b"alac": "alac"}  # fmt: skip
#: MPEG-4 objectTypeIndication (esds) → ffmpeg's codec names.
_OBJECT_TYPES = {0x40: "aac", 0x66: "aac", 0x67: "aac", 0x68: "aac", 0x69: "mp3", 0x6B: "mp3",
                 0x20: "mpeg4"}  # fmt: skip


class IndexProbeUnsupported(Exception):
    """The index does not tell what the packet scan would; scan instead."""


def probe_movie(movie: Movie) -> ProbeResult:
    """The probe facts of an indexed MP4 (see the module docstring).

    Raises ProbeError as the scan would for a source without usable video,
    and IndexProbeUnsupported for what only the scan can tell.
    """
    video = movie.first(b"vide")
    if video is None:
        raise ProbeError("the source has no video stream")
    audio = movie.first(b"soun")
    samples = video.samples
    pts = samples.pts
    shown = [p >= 0 for p in pts]
    frame_count = sum(shown)
    if not frame_count:
        raise ProbeError("the source's video stream has no frames")
    # A frame ends at its presentation time plus its duration, i.e. at the next
    # sample's decode time plus its own composition offset (columns, no objects).
    composition = samples.composition
    dts = list(pts) if composition is None else list(map(sub, pts, composition))
    dts.append(dts[-1] + samples.last_duration)
    ends = (
        islice(dts, 1, None) if composition is None else map(add, islice(dts, 1, None), composition)
    )
    end = max(compress(ends, shown))
    if end <= 0:
        raise ProbeError("the source's video stream has no duration")
    scale = video.timescale
    keyframes = tuple(sorted(float(Fraction(p, scale)) for p in compress(pts, samples.sync)))
    width, height, sample_aspect = _picture(video)
    return ProbeResult(
        duration=float(Fraction(end, scale)),
        container=MP4_FAMILY,
        video_codec=_codec(video, _VIDEO),
        audio_codec=_codec(audio, _AUDIO) if audio is not None else None,
        width=width,
        height=height,
        frame_count=frame_count,
        keyframes=keyframes,
        rotation=_rotation(video),
        sample_aspect=sample_aspect,
    )


def check_complete(movie: Movie, file_size: int) -> None:
    """Raise ProbeError if the file ends before the samples its index lists.

    A truncated upload of a faststart file keeps a whole ``moov``: without
    this, it would register and fail only when a clip past the cut-off is asked for.
    """
    for track in movie.tracks:
        end = track.samples.chunks.data_end(track.samples.sizes)
        if end > file_size:
            raise ProbeError(
                f"the source is truncated: its samples run to byte {end}, the file has {file_size}"
            )


def _children(entry: Box, header: int) -> list[Box]:
    try:
        return parse_boxes(entry.payload[header:])
    except (Mp4Error, struct.error, ValueError):
        raise IndexProbeUnsupported("unreadable sample entry") from None


def _codec(track: Track, by_code: dict[bytes, str]) -> str:
    entry = track.sample_entry
    if entry.type in by_code:
        return by_code[entry.type]
    if entry.type not in (b"mp4a", b"mp4v"):
        raise IndexProbeUnsupported(f"sample entry {entry.type!r}")
    if entry.type == b"mp4a":
        version = struct.unpack_from(">H", entry.payload, 8)[0]
        if version not in AUDIO_ENTRY_HEADER:
            raise IndexProbeUnsupported("unknown sound description version")
        header = AUDIO_ENTRY_HEADER[version]
    else:
        header = VISUAL_ENTRY_HEADER
    children = _children(entry, header)
    wave = next((c for c in children if c.type == b"wave"), None)
    if wave is not None:  # QuickTime keeps the esds in a wave box
        children += _children(wave, 0)
    esds = next((c for c in children if c.type == b"esds"), None)
    if esds is None:
        raise IndexProbeUnsupported(f"{entry.type!r} without esds")
    name = _OBJECT_TYPES.get(_object_type(esds.payload))
    if name is None:
        raise IndexProbeUnsupported("unknown MPEG-4 object type")
    return name


def _object_type(payload: bytes) -> int:
    """The objectTypeIndication of an ``esds`` payload's DecoderConfigDescriptor."""
    try:
        pos = 4  # full box header
        tag, pos = payload[pos], _skip_length(payload, pos + 1)
        if tag != 0x03:
            raise IndexProbeUnsupported("esds without an ES descriptor")
        flags = payload[pos + 2]
        pos += 3
        if flags & 0x80:
            pos += 2
        if flags & 0x40:
            pos += 1 + payload[pos]
        if flags & 0x20:
            pos += 2
        tag, pos = payload[pos], _skip_length(payload, pos + 1)
        if tag != 0x04:
            raise IndexProbeUnsupported("esds without a decoder configuration")
        return payload[pos]
    except IndexError:
        raise IndexProbeUnsupported("truncated esds") from None


def _skip_length(payload: bytes, pos: int) -> int:
    """The position after a descriptor's variable-length size field."""
    for _ in range(4):
        byte = payload[pos]
        pos += 1
        if not byte & 0x80:
            break
    return pos


def _picture(video: Track) -> tuple[int, int, Fraction]:
    """Coded width and height, and the sample aspect ratio as the decoder reports it."""
    entry = video.sample_entry
    if len(entry.payload) < VISUAL_ENTRY_HEADER:
        raise IndexProbeUnsupported("short visual sample entry")
    width, height = struct.unpack_from(">HH", entry.payload, 24)
    children = _children(entry, VISUAL_ENTRY_HEADER)
    # ffmpeg reports the container's aspect (pasp) when there is one, else the codec's.
    pasp = next((c for c in children if c.type == b"pasp"), None)
    if pasp is not None and len(pasp.payload) >= 8:
        h_spacing, v_spacing = struct.unpack_from(">II", pasp.payload)
        if h_spacing and v_spacing:
            return width, height, Fraction(h_spacing, v_spacing)
    sample_aspect = Fraction(1)
    if entry.type in (b"avc1", b"avc3"):
        record = next((c for c in children if c.type == b"avcC"), None)
        if record is None:
            raise IndexProbeUnsupported("H.264 without avcC")
        try:
            fmt = avc.sps_format(avc.AvcConfig.parse(record.payload).sps[0])
        except (avc.AvcError, IndexError, ValueError):
            raise IndexProbeUnsupported("unreadable SPS") from None
        if fmt.sar is not None and fmt.sar[0] and fmt.sar[1]:
            sample_aspect = Fraction(*fmt.sar)
    return width, height, sample_aspect


def _rotation(video: Track) -> int:
    """Clockwise degrees the ``tkhd`` display matrix turns the picture (right angles only)."""
    tkhd = video.trak.require(b"tkhd")
    at = 52 if tkhd.version == 1 else 40
    a, b, _u, c, d = struct.unpack_from(">iiiii", tkhd.payload, at)
    turns = {
        (1, 0, 0, 1): 0, (0, 1, -1, 0): 90, (-1, 0, 0, -1): 180, (0, -1, 1, 0): 270,
    }  # fmt: skip
    key = tuple(0 if v == 0 else (1 if v > 0 else -1) for v in (a, b, c, d))
    if key not in turns or (a and abs(a) != abs(d)) or (b and abs(b) != abs(c)):
        raise IndexProbeUnsupported("a display matrix that is not a right-angle turn")
    return turns[key]
