"""The source being smart-cut: its index, its H.264 configuration, and the samples a cut needs.

Reads through a :class:`~pool.sources.reader.SourceReader`: which samples are
IDR or reference pictures, which parameter sets a copied sample repeats, and
the small MP4 each re-encoded segment's decoder reads instead of the source.
Indexes of recent sources are kept (:data:`INDEXES`).
"""

from __future__ import annotations

import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from pool.cutting.smart_plan import Reencode, SmartCutUnsupported, shown_frames
from pool.cutting.splice import SOURCE_INPUT, ref, retimed
from pool.mp4 import avc
from pool.mp4.boxes import Mp4Error, parse_boxes
from pool.mp4.index import Movie, Sample, Track, read_movie
from pool.mp4.writer import OutTrack, SampleRef, write_mp4
from pool.request import ClipRequest
from pool.sources.reader import SourceReader

VISUAL_ENTRY_HEADER = 78  # bytes of a VisualSampleEntry before its child boxes


@dataclass
class Segment:
    """One run of frames to re-encode: the decoder's input, the encoder's output."""

    part: Reencode
    decoder_input: Path
    encoded: Path
    sps_id: int
    first_pts: int  # in the decoder input's ticks
    end_pts: int


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
            data = self.reader.read_at(sample.offset, sample.size)
            try:
                self.idr[index] = avc.is_idr(data, self.config.length_size)
            except avc.AvcError as exc:
                raise SmartCutUnsupported("bitstream", str(exc)) from None
        return self.idr[index]

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

    def is_reference(self, sample: Sample) -> bool:
        """Whether another picture may refer to ``sample`` (so decoding cannot skip it)."""
        data = self.reader.read_at(sample.offset, sample.size)
        try:
            return avc.is_reference(data, self.config.length_size)
        except avc.AvcError as exc:
            raise SmartCutUnsupported("bitstream", str(exc)) from None

    def likely_needed(self, request: ClipRequest) -> list[Sample]:
        """The source samples a cut of ``request`` reads, unless it starts on an open GOP.

        Video from the keyframe before the clip's first frame to the last
        frame shown, audio over the same time.
        """
        samples, scale = self.video.samples, self.video.timescale
        shown = shown_frames(samples, scale, Fraction(request.start), Fraction(request.end))
        first = shown[0]
        begin = max((i for i in range(first + 1) if samples[i].sync), default=0)
        needed = list(samples[begin : max(shown) + 1])
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
        first = 0
        for i, s in enumerate(samples):
            if s.pts <= begin_ticks:
                first = i
        last = first
        while last + 1 < len(samples) and samples[last].pts + samples[last].duration < end_ticks:
            last += 1
        return range(first, last + 1)

    def decoder_input(self, part: Reencode, sps_id: int, work_file: Callable[[], Path]) -> Segment:
        """Write the source samples ``part`` decodes from as a standalone MP4.

        Frames shown before the segment that no other frame refers to (most
        B-frames) are left out: decoding them would be wasted work.
        """
        first_shown = self.video.samples[part.frames[0]].pts
        samples = [
            s
            for s in self.video.samples[part.decode_from : part.decode_to]
            if s.pts >= first_shown or self.is_reference(s)
        ]
        timed = retimed(samples, [s.pts for s in samples])
        shift = samples[0].pts - (timed[0].dts + timed[0].composition_offset)
        path = work_file()
        reader = self.reader
        with path.open("wb") as out:
            write_mp4(
                out,
                [OutTrack(self.video, [ref(t, s) for t, s in zip(timed, samples, strict=True)])],
                lambda ref: reader.read_at(ref.offset, ref.size),
            )
        video = self.video.samples
        return Segment(
            part=part,
            decoder_input=path,
            encoded=work_file(),
            sps_id=sps_id,
            first_pts=video[part.frames[0]].pts - shift,
            end_pts=video[part.frames[-1]].pts - shift + 1,
        )


class IndexCache:
    """The last few sources' indexes: parsing a long source's ``moov`` costs tens of ms.

    Keyed by where the source is and its identity, which changes with its bytes.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._movies: OrderedDict[tuple[str, str], Movie] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, request: ClipRequest, reader: SourceReader) -> Movie:
        # A presigned URL's query changes with every request; its path does not.
        key = (request.source_input.partition("?")[0], request.source_identity)
        with self._lock:
            if key in self._movies:
                self._movies.move_to_end(key)
                return self._movies[key]
        try:
            movie = read_movie(reader.read_at, reader.size)
        except (Mp4Error, struct.error) as exc:
            raise SmartCutUnsupported("container", str(exc)) from None
        with self._lock:
            self._movies[key] = movie
            while len(self._movies) > self._size:
                self._movies.popitem(last=False)
        return movie


INDEXES = IndexCache(16)


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
