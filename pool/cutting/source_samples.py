"""The source being smart-cut: its index, its H.264 configuration, and the samples a cut needs.

Reads through a :class:`~pool.sources.reader.SourceReader`: which samples are
IDR or reference pictures, and which parameter sets a copied sample repeats.
The indexes it is built from are kept by :mod:`pool.cutting.index_cache`;
what a re-encoded segment's decoder reads, by :mod:`pool.cutting.decoder_input`.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from pool.cutting.smart_plan import SmartCutUnsupported, shown_frames
from pool.cutting.splice import SOURCE_INPUT
from pool.mp4 import avc
from pool.mp4.boxes import Box, parse_boxes
from pool.mp4.index import Movie, Track
from pool.mp4.samples import Sample, sync_before
from pool.mp4.writer import SampleRef
from pool.request import ClipRequest
from pool.sources.reader import SourceReader

log = logging.getLogger(__name__)

#: NAL units before a sample's first slice read one header at a time (SEI, AUD, SPS, PPS).
_HEADER_READS = 8
VISUAL_ENTRY_HEADER = 78  # bytes of a VisualSampleEntry before its child boxes


@dataclass
class CutSource:
    """The source being cut: its reader, tracks and decoder configuration."""

    reader: SourceReader
    video: Track
    audio: Track | None
    config: avc.AvcConfig
    idr: dict[int, bool]

    def is_idr(self, index: int) -> bool:
        """Whether video sample ``index`` is an IDR picture (read once, remembered)."""
        if index not in self.idr:
            sample = self.video.samples[index]
            try:
                self.idr[index] = self._first_slice_is_idr(sample.offset, sample.size)
            except avc.AvcError as exc:
                raise SmartCutUnsupported("bitstream", str(exc)) from None
        return self.idr[index]

    def _first_slice_is_idr(self, offset: int, size: int) -> bool:
        """Whether a sample's first slice is an IDR one (all of a picture's slices are alike).

        Reads only NAL length prefixes and headers up to that slice (a few
        bytes, not the picture: registration judges a remote source with
        this), or the whole sample after :data:`_HEADER_READS` other units.
        """
        length_size = self.config.length_size
        pos = 0
        for _ in range(_HEADER_READS):
            if pos + length_size >= size:
                break
            head = self.reader.read_at(offset + pos, length_size + 1)
            if len(head) < length_size + 1:
                raise avc.AvcError("sample ends inside a NAL header")
            kind = head[length_size] & 0x1F
            if kind in (avc.NAL_IDR, avc.NAL_NON_IDR):
                return kind == avc.NAL_IDR
            nal_size = int.from_bytes(head[:length_size], "big")
            if nal_size == 0:
                raise avc.AvcError("malformed NAL length")
            pos += length_size + nal_size
        return avc.is_idr(self.reader.read_at(offset, size), length_size)

    def copied(self, sample: Sample) -> SampleRef:
        """A video sample to copy as is, less the parameter sets it repeats in-band."""
        try:
            omit = avc.in_band_parameter_sets(
                lambda at, size: self.reader.read_at(sample.offset + at, size),
                sample.size,
                self.config,
            )
        except avc.AvcError as exc:
            raise SmartCutUnsupported("bitstream", str(exc)) from None
        return SampleRef(SOURCE_INPUT, sample.offset, sample.size, tuple(omit))

    def is_reference(self, data: bytes) -> bool:
        """Whether another picture may refer to the one in ``data`` (a video sample's bytes),
        so decoding cannot skip it."""
        try:
            return avc.is_reference(data, self.config.length_size)
        except avc.AvcError as exc:
            raise SmartCutUnsupported("bitstream", str(exc)) from None

    def likely_needed(self, request: ClipRequest) -> list[Sample]:
        """The source samples a cut of ``request`` reads.

        Video from the keyframe before the clip's first frame to the last
        frame shown, audio over the same time.
        """
        samples, scale = self.video.samples, self.video.timescale
        shown = shown_frames(samples, scale, Fraction(request.start), Fraction(request.end))
        begin = next(sync_before(samples.sync, shown[0] + 1), 0)
        needed = samples[begin : max(shown) + 1]
        if self.audio is not None:
            span = (Fraction(request.start), Fraction(request.end))
            needed += [self.audio.samples[i] for i in self.audio_range(*span)]
        return needed

    def audio_range(self, begin: Fraction, end: Fraction) -> range:
        """Audio samples from the one playing at ``begin`` to the one playing at ``end`` (s)."""
        assert self.audio is not None
        samples, scale = self.audio.samples, self.audio.timescale
        # Integer bounds: pts <= floor(b) is pts <= b, and t < ceil(e) is t < e.
        begin_ticks, end_ticks = math.floor(begin * scale), math.ceil(end * scale)
        pts = samples.pts
        if samples.ascending():
            first = max(bisect_right(pts, begin_ticks) - 1, 0)
        else:
            first = max((i for i, p in enumerate(pts) if p <= begin_ticks), default=0)
        last = first
        while last + 1 < len(samples) and pts[last] + samples.duration(last) < end_ticks:
            last += 1
        return range(first, last + 1)


_CHROMA = {0: "4:0:0", 1: "4:2:0", 2: "4:2:2", 3: "4:4:4"}


def h264_track(movie: Movie) -> tuple[Track, avc.AvcConfig]:
    """The video track and its avcC, or SmartCutUnsupported for what x264 cannot match."""
    video = movie.first(b"vide")
    if video is None:
        raise SmartCutUnsupported("no_video")
    if video.codec != b"avc1":
        raise SmartCutUnsupported("codec", video.codec.decode("latin-1"))
    config = avc_config(video)
    for sps in config.sps:
        fmt = avc.sps_format(sps)
        if fmt.profile not in avc.X264_PROFILES or fmt.chroma_format != 1 or fmt.bit_depth != 8:
            chroma = _CHROMA.get(fmt.chroma_format, "?")
            detail = f"profile {fmt.profile}, {fmt.bit_depth}-bit {chroma}"
            raise SmartCutUnsupported("h264_profile", detail)
    if config.length_size != 4:
        raise SmartCutUnsupported("h264_profile", "NAL length size is not 4")
    return video, config


def with_avc_config(entry: Box, config: avc.AvcConfig) -> Box:
    """A copy of the video sample entry ``entry`` that carries ``config`` as its ``avcC``."""
    head = entry.payload[:VISUAL_ENTRY_HEADER]
    children = [
        Box(b"avcC", config.serialize()) if c.type == b"avcC" else c
        for c in parse_boxes(entry.payload[VISUAL_ENTRY_HEADER:])
    ]
    return Box(entry.type, head + b"".join(c.serialize() for c in children))


def avc_config(track: Track) -> avc.AvcConfig:
    """The track's parsed avcC record."""
    entry = track.sample_entry
    children = parse_boxes(entry.payload[VISUAL_ENTRY_HEADER:])
    record = next((c for c in children if c.type == b"avcC"), None)
    if record is None:
        raise SmartCutUnsupported("codec", "avc1 without avcC")
    try:
        return avc.AvcConfig.parse(record.payload)
    except avc.AvcError as exc:
        raise SmartCutUnsupported("codec", str(exc)) from None


def byte_span(samples: Sequence[Sample]) -> tuple[int, int]:
    """The byte range [first, end) that holds ``samples``."""
    return min(s.offset for s in samples), max(s.offset + s.size for s in samples)
