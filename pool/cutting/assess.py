"""What the smart cut can do with a source: told at registration, from its index and a few
keyframes."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from pool.cutting.open_gop import parameter_sets
from pool.cutting.smart_plan import SmartCutUnsupported
from pool.cutting.source_samples import CutSource, h264_track
from pool.mp4.boxes import Mp4Error
from pool.mp4.index import Movie, read_movie
from pool.mp4.samples import sync_from
from pool.request import Precision
from pool.sources.reader import SourceReader, open_reader


@dataclass(frozen=True)
class SourcePrecision:
    """How clips of a source will be cut, and why (for registration and the API)."""

    precision: Precision  # "smart" or "editlist"
    reason: str | None  # why the edit list; or what limits the smart cut; None: nothing


#: Sync samples after the first that are checked for IDR pictures.
_OPEN_GOP_PROBES = 3

#: Sample-entry codes in words, for reasons shown to users.
_CODEC_NAMES = {
    "hvc1": "HEVC", "hev1": "HEVC", "av01": "AV1", "vp09": "VP9", "mp4v": "MPEG-4 Part 2",
    "avc3": "H.264 with in-band parameter sets (avc3)",
}  # fmt: skip

_WHY = {
    "container": "{detail}: the smart cut reads only unfragmented MP4 and MOV files",
    "codec": "{detail} video: the smart cut re-encodes H.264 only",
    "h264_profile": "H.264 {detail}: the smart cut re-encodes 8-bit 4:2:0 H.264 only",
    "no_video": "no video track the smart cut can read",
    "bitstream": "{detail}",
}


def assess_source(source_input: str, identity: str, spool: Path) -> SourcePrecision:
    """What the smart cut can do with a source, from its index and a few keyframes.

    Blocking: run it in a thread. ``spool`` is a file a remote reader may use.
    Open-GOP sources (keyframes that are not IDR pictures) are smart-cut
    from a keyframe rewritten into an IDR (:mod:`pool.cutting.open_gop`);
    those whose slices cannot be rewritten (interlaced, slice groups) have
    a clip with no IDR inside re-encoded whole, up to
    ``ORIGIN_SMART_MAX_REENCODE_S``, and cut with the edit list beyond it.
    """
    reader = open_reader(source_input, identity, spool)
    try:
        return assess_reader(reader)
    finally:
        reader.close()


def assess_reader(reader: SourceReader, movie: Movie | None = None) -> SourcePrecision:
    """:func:`assess_source` on an open reader, with its index when already read."""
    try:
        if movie is None:
            movie = read_movie(reader.read_at, reader.size)
        video, config = h264_track(movie)
    except (Mp4Error, struct.error) as exc:
        return SourcePrecision("editlist", _WHY["container"].format(detail=exc))
    except SmartCutUnsupported as exc:
        detail = str(exc).partition(": ")[2]
        detail = _CODEC_NAMES.get(detail, detail) if exc.reason == "codec" else detail
        return SourcePrecision("editlist", _WHY.get(exc.reason, "{detail}").format(detail=detail))
    source = CutSource(reader, video, movie.first(b"soun"), config, {})
    syncs = list(islice(sync_from(video.samples.sync, 0), 1, 1 + _OPEN_GOP_PROBES))
    try:
        open_gop = not all(source.is_idr(i) for i in syncs)
    except SmartCutUnsupported as exc:
        return SourcePrecision("editlist", str(exc))
    if not open_gop:
        return SourcePrecision("smart", None)
    try:
        parameter_sets(config)
    except SmartCutUnsupported as exc:
        return SourcePrecision(
            "smart",
            f"open GOP (keyframes are not IDR pictures) with {exc.detail}: a clip with no IDR "
            "inside is re-encoded whole, or cut with the edit list when that is too long",
        )
    return SourcePrecision(
        "smart",
        "open GOP (keyframes are not IDR pictures): a clip is copied from a keyframe rewritten "
        "into an IDR picture; the frames shown just before that keyframe are re-encoded",
    )
