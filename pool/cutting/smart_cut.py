"""Smart cut: a frame-exact clip with no hidden pre-roll, re-encoding only what it must.

Steps, for one clip of an H.264 MP4 source (see :mod:`pool.cutting.smart_plan`):

1. :func:`prepare` reads the source's index (``moov`` only), plans
   which frames to copy and which to re-encode, fetches the byte span the clip
   needs, and writes each segment to re-encode as a small MP4 holding just the
   source samples its decoder needs (so ffmpeg never reads the source itself).
2. :attr:`SmartCut.encode_argv` is one ffmpeg run that decodes those inputs
   (:mod:`pool.cutting.decoder_input` says which samples they hold),
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
pool then cuts the clip with the edit list instead. The source side (index,
IDR and reference pictures, decoder inputs) is :mod:`pool.cutting.source_samples`;
the splice's timing, :mod:`pool.cutting.splice`; what a source allows,
:mod:`pool.cutting.assess`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from pool.cutting.decoder_input import Segment, write_decoder_input
from pool.cutting.index_cache import INDEXES
from pool.cutting.open_gop import copied_samples, open_gop_rewritable
from pool.cutting.smart_plan import CutPlan, SmartCutUnsupported, plan_cut
from pool.cutting.source_samples import (
    CutSource,
    avc_config,
    byte_span,
    h264_track,
    with_avc_config,
)
from pool.cutting.splice import SOURCE_INPUT, encoded_frames, exactly_timed, retimed, splice_timing
from pool.mp4 import avc
from pool.mp4.boxes import Mp4Error, file_reader
from pool.mp4.h264_params import SpsFormat
from pool.mp4.index import Track, read_movie
from pool.mp4.samples import Sample
from pool.mp4.timing import Timing
from pool.mp4.writer import OutTrack, SampleRef, write_mp4
from pool.request import ClipRequest
from pool.sources.reader import LocalReader, open_reader

#: x264 settings for re-encoded frames: visually transparent (PSNR well above
#: 40 dB), fast, and deterministic. x264's output depends on its thread count,
#: never on the machine or the scheduling, so the count is fixed (2: about
#: 15% faster than 1 on two cores). No B-frames: nothing to reorder at the splice.
#: A segment is at most a GOP long, so what pays off over a long encode does
#: not: superfast already has no lookahead, mbtree or scene cuts and one
#: reference. Of the rest, subpel refinement (-subq 0) and CABAC (CAVLC
#: instead) cost 30% of x264's CPU time on 1080p60 heads, adaptive
#: quantisation 8% of what remains, the deblocking filter about 5% of what
#: then remains (bench/long_gop.py). Each turns off a tool that leaves the SPS
#: at the source's profile (turning off weighted prediction too would make
#: x264 write a Baseline SPS for a Main source). Without adaptive
#: quantisation, crf 18 gives 53-54 dB PSNR on testsrc2 (crf 16 with it gave
#: 51-52) and 52 dB on a noisy picture (53), in 33% more and 10% fewer bytes;
#: at those quantisers the deblocking filter hardly acts (54.8 dB with it,
#: 54.9 dB without, 0.1% more bytes).
ENCODER = (
    "-c:v", "libx264", "-preset", "superfast", "-crf", "18", "-bf", "0",
    "-subq", "0", "-coder", "cavlc", "-aq-mode", "0", "-x264opts", "no-deblock=1",
    "-threads", "2",
)  # fmt: skip
_DETERMINISTIC = (
    "-map_metadata", "-1", "-map_chapters", "-1",
    "-fflags", "+bitexact", "-flags:v", "+bitexact",
)  # fmt: skip


@dataclass(frozen=True)
class SmartCutReport:
    """What a smart cut did, for metrics and logs."""

    frames: int
    copied_frames: int
    reencoded_s: float
    source_bytes_read: int


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
        movie = INDEXES.get(request, reader)
        video, config = h264_track(movie)
        source = CutSource(reader, video, movie.first(b"soun"), config, {})
        # Fetch what the clip most likely needs before planning reads any of it.
        reader.prefetch(*byte_span(source.likely_needed(request)))
        plan = plan_cut(
            video.samples,
            video.timescale,
            Fraction(request.start),
            Fraction(request.end),
            source.is_idr,
            open_gop=open_gop_rewritable(config),
        )
        reencode_s = _reencoded_seconds(video, plan)
        if max_reencode_s is not None and reencode_s > max_reencode_s:
            raise SmartCutUnsupported(
                "reencode_too_long", f"{reencode_s:.3f} s to re-encode, limit {max_reencode_s} s"
            )
        free_ids = [i for i in range(32) if i not in config.used_ids()]
        segments: list[Segment] = []
        for part in (plan.head, plan.tail):
            if part is None:
                continue
            if not free_ids:
                raise SmartCutUnsupported("parameter_sets", "no free parameter-set id")
            segments.append(write_decoder_input(source, part, free_ids.pop(0), work_file))
    except BaseException:
        reader.close()
        raise
    return SmartCut(ffmpeg, source, plan, segments, request)


class SmartCut:
    """A planned smart cut: run :attr:`encode_argv` (if any), then :meth:`assemble`, then close."""

    def __init__(
        self,
        ffmpeg: str,
        source: CutSource,
        plan: CutPlan,
        segments: list[Segment],
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
            # One decoding thread: x264's two keep the other core busy, and
            # frame-threaded decoding beside them cost more CPU time than it
            # saved (1080p60 with 4 s GOPs: 3-6% less wall time per cold cut;
            # 1080p30 with 2 s GOPs: the same; bench/long_gop.py's clips).
            argv += ["-threads", "1", "-noautorotate", "-f", "mp4"]
            argv += ["-i", f"file:{segment.decoder_input}"]
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
        copied, config = copied_samples(self._source, plan.copy)
        for track in encoded:
            config = config.merged(avc_config(track))
        # SampleRef inputs: 0 is the source, then the segments' outputs in order
        # (the head's first when there is one, the tail's last).
        head = encoded[0] if plan.head is not None else None
        tail = encoded[-1] if plan.tail is not None else None

        src = video.samples
        base = src[plan.frames[0]].pts
        parts: list[tuple[int, Sample, int]] = []  # (input, sample, pts on the source timeline)
        if head is not None and plan.head is not None:
            parts += encoded_frames(1, head, [src[i].pts for i in plan.head.frames])
        parts += [(SOURCE_INPUT, src[i], src[i].pts) for i in plan.copy]
        if tail is not None and plan.tail is not None:
            parts += encoded_frames(len(encoded), tail, [src[i].pts for i in plan.tail.frames])
        reorder = src[plan.copy[0]].pts - src[plan.copy[0]].dts if plan.copy else 0
        timed = splice_timing(parts, reorder)
        first_dts = timed[0][0]
        start, end = self._span
        delay = video.seconds(base) - start  # the first frame shows this long after the start
        out_samples = exactly_timed(
            [
                next(copied) if inp == SOURCE_INPUT else SampleRef(inp, sample.offset, sample.size)
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
                sample_entry=with_avc_config(video.sample_entry, config),
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

    def _encoded_track(self, segment: Segment) -> Track:
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
        timed = retimed(picked, [s.pts for s in picked])
        lead = round(start * audio.timescale) - first.pts
        delay = max(Fraction(0), audio.seconds(-lead))
        media_start = max(0, lead) + timed[0].composition_offset
        length = math.ceil((end - start - delay) * audio.timescale)
        reaches_end = audio.seconds(last.pts + last.duration) >= end
        samples = exactly_timed(
            [SampleRef(SOURCE_INPUT, s.offset, s.size) for s in picked],
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


# -- helpers -----------------------------------------------------------------


def _reencoded_seconds(video: Track, plan: CutPlan) -> float:
    parts = (part for part in (plan.head, plan.tail) if part is not None)
    return float(video.seconds(sum(video.samples.duration(i) for p in parts for i in p.frames)))


def _sar_filter(sps: SpsFormat) -> str:
    # The bitstream's SAR, not the container's: ffmpeg may prefer a 'pasp'
    # box that disagrees, and the re-encoded frames must match the copied ones.
    return f",setsar={sps.sar[0]}/{sps.sar[1]}" if sps.sar and all(sps.sar) else ""


def _colour_options(sps: SpsFormat) -> list[str]:
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
