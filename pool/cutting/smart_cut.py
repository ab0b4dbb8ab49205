"""Smart cut: a frame-exact clip with no hidden pre-roll, re-encoding only what it must.

Steps, for one clip of an H.264 MP4 source (see :mod:`pool.cutting.smart_plan`):

1. :meth:`SmartCut.prepare` reads the source's index (``moov`` only), plans
   which frames to copy and which to re-encode, fetches the byte span the clip
   needs, and writes each segment to re-encode as a small MP4 holding just the
   source samples its decoder needs (so ffmpeg never reads the source itself).
2. :attr:`SmartCut.encode_argv` is one ffmpeg run that decodes those inputs,
   keeps exactly the segment's frames (selected by source timestamp) and
   encodes them with x264: same profile and level as the source, no B-frames,
   a fixed thread count and bit-exact flags so every run and replica writes
   the same bytes, and parameter-set ids the source does not use.
3. :meth:`SmartCut.assemble` writes the clip: re-encoded head, copied samples,
   re-encoded tail, every frame at its source time minus the clip's start
   (an empty edit holds the gap before the first frame, if any), both
   encoders' parameter sets in one ``avcC``, the last frame cut at the
   clip's end; audio copied from the AAC frame playing at the start, its
   edit list aligning it to the sample. The first frame is an IDR: no player
   has anything to hide.

Anything the smart cut cannot do raises :class:`SmartCutUnsupported`; the
pool then cuts the clip with the edit list instead.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from pool.cutting.smart_plan import CutPlan, Reencode, SmartCutUnsupported, plan_cut, shown_frames
from pool.mp4 import avc
from pool.mp4.boxes import Box, Mp4Error, file_reader, parse_boxes
from pool.mp4.index import Movie, Sample, Track, read_movie
from pool.mp4.timing import Timing, exact_end
from pool.mp4.writer import OutSample, OutTrack, SampleRef, write_mp4
from pool.request import ClipRequest, Precision
from pool.sources.reader import LocalReader, SourceReader, open_reader

#: x264 settings for re-encoded frames: visually transparent (PSNR well above
#: 40 dB), fast, and deterministic. x264's output depends on its thread count,
#: never on the machine or the scheduling, so the count is fixed (2: about
#: 15% faster than 1 on two cores). No B-frames: nothing to reorder at the splice.
ENCODER = (
    "-c:v", "libx264", "-preset", "superfast", "-crf", "16", "-bf", "0", "-threads", "2",
)  # fmt: skip
_DETERMINISTIC = (
    "-map_metadata", "-1", "-map_chapters", "-1",
    "-fflags", "+bitexact", "-flags:v", "+bitexact",
)  # fmt: skip
_VISUAL_ENTRY_HEADER = 78  # bytes of a VisualSampleEntry before its child boxes
_SOURCE = 0  # SampleRef.input of the source; encoder outputs follow


@dataclass(frozen=True)
class SmartCutReport:
    """What a smart cut did, for metrics and logs."""

    frames: int
    copied_frames: int
    reencoded_s: float
    source_bytes_read: int


@dataclass
class _Segment:
    """One run of frames to re-encode: the decoder's input, the encoder's output."""

    part: Reencode
    decoder_input: Path
    encoded: Path
    sps_id: int
    first_pts: int  # in the decoder input's ticks
    end_pts: int


@dataclass
class _Source:
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
        return SampleRef(_SOURCE, sample.offset, sample.size, tuple(omit))

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

    def decoder_input(self, part: Reencode, sps_id: int, work_file: Callable[[], Path]) -> _Segment:
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
        timed = _retimed(samples, [s.pts for s in samples])
        shift = samples[0].pts - (timed[0].dts + timed[0].composition_offset)
        path = work_file()
        reader = self.reader
        with path.open("wb") as out:
            write_mp4(
                out,
                [OutTrack(self.video, [_ref(t, s) for t, s in zip(timed, samples, strict=True)])],
                lambda ref: reader.read_at(ref.offset, ref.size),
            )
        video = self.video.samples
        return _Segment(
            part=part,
            decoder_input=path,
            encoded=work_file(),
            sps_id=sps_id,
            first_pts=video[part.frames[0]].pts - shift,
            end_pts=video[part.frames[-1]].pts - shift + 1,
        )


def prepare(
    ffmpeg: str,
    request: ClipRequest,
    work_file: Callable[[], Path],
    max_reencode_s: float | None = None,
) -> SmartCut:
    """Index the source, plan the cut, fetch what it needs and write decoder inputs.

    Blocking: run it in a thread. ``work_file`` returns a new empty file each
    call; the caller deletes them all afterwards. A plan that would re-encode
    more than ``max_reencode_s`` seconds (a clip with no IDR inside, e.g. from
    an open-GOP source) is refused. Raises SmartCutUnsupported (cut with the
    edit list instead) or SourceUnavailable.
    """
    reader = open_reader(request.source_input, request.source_identity, work_file())
    try:
        movie = _INDEXES.get(request, reader)
        video, config = _h264_track(movie)
        source = _Source(reader, video, movie.first(b"soun"), config, {})
        # Fetch what the clip most likely needs before planning reads any of it.
        reader.prefetch(*_byte_span(source.likely_needed(request)))
        plan = plan_cut(
            video.samples,
            video.timescale,
            Fraction(request.start),
            Fraction(request.end),
            source.is_idr,
        )
        reencode_s = _reencoded_seconds(video, plan)
        if max_reencode_s is not None and reencode_s > max_reencode_s:
            raise SmartCutUnsupported(
                "reencode_too_long", f"{reencode_s:.3f} s to re-encode, limit {max_reencode_s} s"
            )
        free_ids = [i for i in range(32) if i not in config.used_ids()]
        segments: list[_Segment] = []
        for part in (plan.head, plan.tail):
            if part is None:
                continue
            if not free_ids:
                raise SmartCutUnsupported("parameter_sets", "no free parameter-set id")
            segments.append(source.decoder_input(part, free_ids.pop(0), work_file))
    except BaseException:
        reader.close()
        raise
    return SmartCut(ffmpeg, source, plan, segments, request)


class _IndexCache:
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


_INDEXES = _IndexCache(16)


class SmartCut:
    """A planned smart cut: run :attr:`encode_argv` (if any), then :meth:`assemble`, then close."""

    def __init__(
        self,
        ffmpeg: str,
        source: _Source,
        plan: CutPlan,
        segments: list[_Segment],
        request: ClipRequest,
    ) -> None:
        self.ffmpeg = ffmpeg
        self._source = source
        self._plan = plan
        self._segments = segments
        self._span = (Fraction(request.start), Fraction(request.end))

    # -- step 2 --------------------------------------------------------------

    @property
    def encode_argv(self) -> list[str] | None:
        """The ffmpeg run that re-encodes the head and tail; None when all is copied."""
        if not self._segments:
            return None
        sps = avc.sps_format(self._source.config.sps[0])
        argv = [self.ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-copyts"]
        for segment in self._segments:
            # -noautorotate: re-encoded pictures keep the coded orientation; the
            # clip carries the source's display matrix, which turns them all.
            argv += ["-noautorotate", "-f", "mp4", "-i", f"file:{segment.decoder_input}"]
        for n, segment in enumerate(self._segments):
            frames = len(segment.part.frames)
            argv += [
                "-map", f"{n}:v:0",
                "-vf", f"trim=start_pts={segment.first_pts}:end_pts={segment.end_pts},"
                f"setpts=PTS-STARTPTS{_sar_filter(sps)}",
                "-fps_mode", "passthrough", "-frames:v", str(frames),
                *ENCODER,
                "-profile:v", avc.X264_PROFILES[sps.profile],
                "-level:v", _level_text(sps.level),
                *_colour_options(sps),
                "-x264-params", f"sps-id={segment.sps_id}:keyint={max(frames, 1)}:scenecut=0",
                *_DETERMINISTIC,
                "-f", "mp4", "-y", f"file:{segment.encoded}",
            ]  # fmt: skip
        return argv

    @property
    def encode_output(self) -> Path | None:
        """The first file the encode run writes (its first byte marks ffmpeg's start-up)."""
        return self._segments[0].encoded if self._segments else None

    # -- step 3 --------------------------------------------------------------

    def assemble(self, output: Path) -> SmartCutReport:
        """Write the finished clip to ``output`` (blocking: run it in a thread)."""
        video, plan, reader = self._source.video, self._plan, self._source.reader
        encoded = [self._encoded_track(segment) for segment in self._segments]
        config = self._source.config
        for track in encoded:
            config = config.merged(_avc_config(track))
        # SampleRef inputs: 0 is the source, then the segments' outputs in order
        # (the head's first when there is one, the tail's last).
        head = encoded[0] if plan.head is not None else None
        tail = encoded[-1] if plan.tail is not None else None

        src = video.samples
        base = src[plan.frames[0]].pts
        parts: list[tuple[int, Sample, int]] = []  # (input, sample, pts on the source timeline)
        if head is not None and plan.head is not None:
            parts += _encoded_frames(1, head, [src[i].pts for i in plan.head.frames])
        parts += [(_SOURCE, src[i], src[i].pts) for i in plan.copy]
        if tail is not None and plan.tail is not None:
            parts += _encoded_frames(len(encoded), tail, [src[i].pts for i in plan.tail.frames])
        reorder = src[plan.copy[0]].pts - src[plan.copy[0]].dts if plan.copy else 0
        timed = _splice_timing(parts, reorder)
        first_dts = timed[0][0]
        start, end = self._span
        delay = video.seconds(base) - start  # the first frame shows this long after the start
        out_samples = _exactly_timed(
            [
                self._source.copied(sample)
                if inp == _SOURCE
                else SampleRef(inp, sample.offset, sample.size)
                for inp, sample, _ in parts
            ],
            [sample.sync for _, sample, _ in parts],
            [Timing(dts - first_dts, pts - first_dts, 0) for dts, pts in timed],
            last_step=src[plan.frames[-1]].duration,
            media_start=base - first_dts,
            length=math.ceil(end * video.timescale) - base,
            delayed=delay > 0,
        )
        tracks = [
            OutTrack(
                video,
                out_samples,
                media_start=base - first_dts,
                # The first frame shows at its source time minus the clip's start.
                delay=delay,
                presentation=end - start,
                sample_entry=_with_avc_config(video.sample_entry, config),
            )
        ]
        audio = self._audio_track()
        if audio is not None:
            tracks.append(audio)

        with contextlib.ExitStack() as stack:
            # Open once each: write_mp4 reads every encoded sample separately.
            encoders = [LocalReader(seg.encoded) for seg in self._segments]
            for encoder in encoders:
                stack.callback(encoder.close)
            inputs = [reader.read_at] + [encoder.read_at for encoder in encoders]
            with output.open("wb") as out:
                write_mp4(out, tracks, lambda ref: inputs[ref.input](ref.offset, ref.size))
        return SmartCutReport(
            frames=len(plan.frames),
            copied_frames=len(plan.copy),
            reencoded_s=_reencoded_seconds(video, plan),
            source_bytes_read=reader.bytes_read,
        )

    def _encoded_track(self, segment: _Segment) -> Track:
        try:
            movie = read_movie(*file_reader(segment.encoded))
        except (Mp4Error, OSError) as exc:
            raise SmartCutUnsupported("encoder_output", str(exc)) from None
        track = movie.first(b"vide")
        if track is None or len(track.samples) != len(segment.part.frames):
            got = 0 if track is None else len(track.samples)
            raise SmartCutUnsupported(
                "encoder_output", f"{got} frames encoded, {len(segment.part.frames)} expected"
            )
        return track

    def _audio_track(self) -> OutTrack | None:
        """The source's audio over the clip's span; None if it has none there.

        Whole AAC frames are copied, from the one playing at the clip's start;
        the edit list hides what plays before the start, or waits (an empty
        edit) when the source's audio begins later.
        """
        audio = self._source.audio
        if audio is None:
            return None
        start, end = self._span
        picked = [audio.samples[i] for i in self._source.audio_range(start, end)]
        first, last = picked[0], picked[-1]
        if audio.seconds(last.pts + last.duration) <= start or audio.seconds(first.pts) >= end:
            return None  # the source's audio ends before the clip (or starts after it)
        timed = _retimed(picked, [s.pts for s in picked])
        lead = round(start * audio.timescale) - first.pts
        delay = max(Fraction(0), audio.seconds(-lead))
        media_start = max(0, lead) + timed[0].composition_offset
        length = math.ceil((end - start - delay) * audio.timescale)
        reaches_end = audio.seconds(last.pts + last.duration) >= end
        samples = _exactly_timed(
            [SampleRef(_SOURCE, s.offset, s.size) for s in picked],
            [s.sync for s in picked],
            [Timing(t.dts, t.dts + t.composition_offset, 0) for t in timed],
            last_step=last.duration,
            # Where the source's audio stops before the clip does, it stops there.
            media_start=media_start if reaches_end else None,
            length=length,
            delayed=delay > 0,
        )
        return OutTrack(
            audio,
            samples,
            media_start=media_start,
            delay=delay,
            presentation=end - start,
        )

    def close(self) -> None:
        """Close the source reader (work files belong to the caller)."""
        self._source.reader.close()


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
    Open-GOP sources (keyframes that are not IDR pictures) are smart-cut,
    but a clip with no IDR inside is re-encoded whole, up to
    ``ORIGIN_SMART_MAX_REENCODE_S``, and cut with the edit list beyond it.
    """
    reader = open_reader(source_input, identity, spool)
    try:
        try:
            movie = read_movie(reader.read_at, reader.size)
            video, config = _h264_track(movie)
        except (Mp4Error, struct.error) as exc:
            return SourcePrecision("editlist", _WHY["container"].format(detail=exc))
        except SmartCutUnsupported as exc:
            detail = str(exc).partition(": ")[2]
            detail = _CODEC_NAMES.get(detail, detail) if exc.reason == "codec" else detail
            return SourcePrecision(
                "editlist", _WHY.get(exc.reason, "{detail}").format(detail=detail)
            )
        source = _Source(reader, video, movie.first(b"soun"), config, {})
        syncs = [i for i, s in enumerate(video.samples) if s.sync][1 : 1 + _OPEN_GOP_PROBES]
        try:
            open_gop = not all(source.is_idr(i) for i in syncs)
        except SmartCutUnsupported as exc:
            return SourcePrecision("editlist", str(exc))
    finally:
        reader.close()
    if open_gop:
        return SourcePrecision(
            "smart",
            "open GOP (keyframes are not IDR pictures): a clip with no IDR inside is "
            "re-encoded whole, or cut with the edit list when that is too long",
        )
    return SourcePrecision("smart", None)


# -- helpers -----------------------------------------------------------------

_CHROMA = {0: "4:0:0", 1: "4:2:0", 2: "4:2:2", 3: "4:4:4"}


def _h264_track(movie: Movie) -> tuple[Track, avc.AvcConfig]:
    video = movie.first(b"vide")
    if video is None:
        raise SmartCutUnsupported("no_video")
    if video.codec != b"avc1":
        raise SmartCutUnsupported("codec", video.codec.decode("latin-1"))
    config = _avc_config(video)
    for sps in config.sps:
        fmt = avc.sps_format(sps)
        if fmt.profile not in avc.X264_PROFILES or fmt.chroma_format != 1 or fmt.bit_depth != 8:
            chroma = _CHROMA.get(fmt.chroma_format, "?")
            detail = f"profile {fmt.profile}, {fmt.bit_depth}-bit {chroma}"
            raise SmartCutUnsupported("h264_profile", detail)
    if config.length_size != 4:
        raise SmartCutUnsupported("h264_profile", "NAL length size is not 4")
    return video, config


def _avc_config(track: Track) -> avc.AvcConfig:
    entry = track.sample_entry
    children = parse_boxes(entry.payload[_VISUAL_ENTRY_HEADER:])
    record = next((c for c in children if c.type == b"avcC"), None)
    if record is None:
        raise SmartCutUnsupported("codec", "avc1 without avcC")
    try:
        return avc.AvcConfig.parse(record.payload)
    except avc.AvcError as exc:
        raise SmartCutUnsupported("codec", str(exc)) from None


def _with_avc_config(entry: Box, config: avc.AvcConfig) -> Box:
    head = entry.payload[:_VISUAL_ENTRY_HEADER]
    children = [
        Box(b"avcC", config.serialize()) if c.type == b"avcC" else c
        for c in parse_boxes(entry.payload[_VISUAL_ENTRY_HEADER:])
    ]
    return Box(entry.type, head + b"".join(c.serialize() for c in children))


def _reencoded_seconds(video: Track, plan: CutPlan) -> float:
    shown = sum(video.samples[i].duration for i in plan.frames)
    copied = sum(video.samples[i].duration for i in plan.copy)
    return float(video.seconds(shown - copied))


def _sar_filter(sps: avc.SpsFormat) -> str:
    # The bitstream's SAR, not the container's: ffmpeg may prefer a 'pasp'
    # box that disagrees, and the re-encoded frames must match the copied ones.
    return f",setsar={sps.sar[0]}/{sps.sar[1]}" if sps.sar and all(sps.sar) else ""


def _colour_options(sps: avc.SpsFormat) -> list[str]:
    """Encoder options that write the source's colour description into the new SPS."""
    options: list[str] = []
    if sps.colour is not None:
        primaries, transfer, matrix = sps.colour
        options += ["-color_primaries", str(primaries), "-color_trc", str(transfer)]
        options += ["-colorspace", str(matrix)]
    if sps.full_range is not None:
        options += ["-color_range", "2" if sps.full_range else "1"]  # ffmpeg's pc / tv
    return options


def _level_text(level_idc: int) -> str:
    return "1b" if level_idc == 9 else f"{level_idc // 10}.{level_idc % 10}"


def _byte_span(samples: Sequence[Sample]) -> tuple[int, int]:
    return min(s.offset for s in samples), max(s.offset + s.size for s in samples)


@dataclass(frozen=True)
class _Timed:
    dts: int
    composition_offset: int


def _retimed(samples: Sequence[Sample], pts: Sequence[int]) -> list[_Timed]:
    """Decode times from 0 that keep every sample's pts - dts, shifted so none is negative."""
    delta = max(0, max(s.dts - p for s, p in zip(samples, pts, strict=True)))
    base = samples[0].dts
    return [_Timed(s.dts - base, p - s.dts + delta) for s, p in zip(samples, pts, strict=True)]


def _ref(timed: _Timed, sample: Sample) -> OutSample:
    return OutSample(
        SampleRef(_SOURCE, sample.offset, sample.size),
        dts=timed.dts,
        composition_offset=timed.composition_offset,
        duration=sample.duration,
        sync=sample.sync,
    )


def _encoded_frames(
    input_no: int, track: Track, source_pts: Sequence[int]
) -> list[tuple[int, Sample, int]]:
    """Encoded samples paired with the source times of the frames they replace."""
    if any(b.pts <= a.pts for a, b in itertools.pairwise(track.samples)):
        raise SmartCutUnsupported("encoder_output", "re-encoded frames are reordered")
    return [(input_no, s, p) for s, p in zip(track.samples, source_pts, strict=True)]


def _splice_timing(parts: Sequence[tuple[int, Sample, int]], reorder: int) -> list[tuple[int, int]]:
    """(dts, pts) per output sample on the source timeline.

    Copied samples keep their own times. Re-encoded frames (no reordering)
    decode ``reorder`` ticks before they show, the copied keyframe's delay,
    so decode times keep increasing into the copied part; the tail's frames
    do too, but never before the last copied one (every frame of a track
    then shows as long after it decodes, which keeps its end exact in every
    player: :mod:`pool.mp4.timing`).
    """
    timed: list[tuple[int, int]] = []
    copied_any = False
    for inp, sample, pts in parts:
        if inp == _SOURCE:
            copied_any = True
            timed.append((sample.dts, pts))
        elif copied_any:
            timed.append((max(timed[-1][0] + 1, pts - reorder), pts))
        else:
            timed.append((pts - reorder, pts))
    if any(b[0] <= a[0] for a, b in itertools.pairwise(timed)):
        raise SmartCutUnsupported("layout", "decode times do not increase across the splice")
    return timed


def _exactly_timed(
    refs: Sequence[SampleRef],
    sync: Sequence[bool],
    timings: Sequence[Timing],
    *,
    last_step: int,
    media_start: int | None,
    length: int,
    delayed: bool,
) -> list[OutSample]:
    """Output samples whose steps end the track exactly (see :mod:`pool.mp4.timing`).

    ``timings`` carry decode and presentation times (their steps are
    recomputed from the decode times, ``last_step`` for the last sample).
    With ``media_start`` None the steps stay as they are.
    """
    steps = [b.dts - a.dts for a, b in itertools.pairwise(timings)] + [last_step]
    stepped = [Timing(t.dts, t.pts, step) for t, step in zip(timings, steps, strict=True)]
    exact = (
        None if media_start is None else exact_end(stepped, media_start, length, delayed=delayed)
    )
    return [
        OutSample(ref, t.dts, t.pts - t.dts, t.duration, is_sync)
        for ref, is_sync, t in zip(refs, sync, exact or stepped, strict=True)
    ]
