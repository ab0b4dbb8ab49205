"""What a re-encoded segment's decoder reads: the fewest source samples that decode it exactly.

The encode run never reads the source: each segment's decoder reads a small
MP4 of source samples, from the keyframe before the segment
(``Reencode.decode_from``) to its last frame, less the pictures that would
be decoded for nothing:

- pictures shown before the segment that no picture refers to
  (nal_ref_idc 0: most B-frames);
- when decoding starts at an IDR picture, the reference pictures shown
  before the segment that none of its frames needs, directly or not (x264's
  B-pyramid references, which only their own mini-GOP uses), found by
  simulating the decoder's reference lists (:mod:`pool.mp4.references`).
  The slices after them are renumbered to close the frame_num gaps they
  leave (:func:`pool.mp4.slice_rewrite.with_references`).

After an open-GOP keyframe, the pictures the simulation would start from are
not all there: every reference picture is decoded then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pool.cutting.open_gop import parameter_sets
from pool.cutting.smart_plan import Reencode, SmartCutUnsupported
from pool.cutting.source_samples import CutSource
from pool.cutting.splice import SOURCE_INPUT, ref, retimed
from pool.mp4 import avc
from pool.mp4.rbsp import BitstreamError
from pool.mp4.references import Picture, plan_decode
from pool.mp4.slice_rewrite import with_references
from pool.mp4.slices import SLICE_NALS, ParamSets, SliceHeader, parse_slice
from pool.mp4.writer import OutTrack, SampleRef, write_mp4

log = logging.getLogger(__name__)


@dataclass
class Segment:
    """One run of frames to re-encode: the decoder's input, the encoder's output."""

    part: Reencode
    decoder_input: Path
    encoded: Path
    sps_id: int
    first_pts: int  # in the decoder input's ticks
    end_pts: int


def decoded_samples(source: CutSource, part: Reencode) -> list[tuple[int, SampleRef]]:
    """The samples ``part``'s decoder reads (see the module's doc), in decode order: each
    one's index, and its bytes as the decoder reads them."""
    samples = source.video.samples
    first_shown = samples[part.frames[0]].pts
    read = [
        i
        for i in range(part.decode_from, part.decode_to)
        if samples[i].pts >= first_shown or source.is_reference(samples[i])
    ]
    whole = [(i, SampleRef(SOURCE_INPUT, samples[i].offset, samples[i].size)) for i in read]
    if not source.is_idr(part.decode_from) or not _reordered_reference(source, read, first_shown):
        return whole
    try:
        params = parameter_sets(source.config)
        pictures = {i: _Slices(source, params, i) for i in read}
        plan = plan_decode([p.picture for p in pictures.values()], part.frames)
        return [(i, pictures[i].rewritten(plan.headers.get(i))) for i in plan.keys]
    except (BitstreamError, SmartCutUnsupported) as exc:
        log.debug("every reference picture before the segment is decoded: %s", exc)
        return whole


def _reordered_reference(source: CutSource, read: list[int], first_shown: int) -> bool:
    """Whether a reference picture shown before the segment is shown before a picture
    decoded ahead of it (a B-frame others refer to): the ones the simulation may leave
    out. Without any, it is not run (a chain of P-frames needs every link)."""
    samples = source.video.samples
    latest = None
    for i in read:
        pts = samples[i].pts
        shown_early = latest is not None and pts < min(latest, first_shown)
        if shown_early and source.is_reference(samples[i]):
            return True
        latest = pts if latest is None else max(latest, pts)
    return False


class _Slices:
    """A source sample's slices, parsed, and the sample with their headers rewritten."""

    def __init__(self, source: CutSource, params: ParamSets, index: int) -> None:
        sample = source.video.samples[index]
        self._sample = sample
        self._length_size = size = source.config.length_size
        data = source.reader.read_at(sample.offset, sample.size)
        units = avc.nal_units(lambda at, n: data[at : at + n], len(data), size)
        self._slices = [
            (start, parse_slice(data[start + size : end], params))
            for start, end, header in units
            if header & 0x1F in SLICE_NALS
        ]
        if not self._slices:
            raise SmartCutUnsupported("bitstream", f"sample {index} has no slice")
        first = self._slices[0][1].header
        self.picture = Picture(
            index, params[first.pps_id][1], tuple(p.header for _, p in self._slices)
        )

    def rewritten(self, headers: tuple[SliceHeader, ...] | None) -> SampleRef:
        """The sample as the decoder reads it: with ``headers`` written, if any."""
        sample, size = self._sample, self._length_size
        patches = []
        for (start, parsed), header in zip(self._slices, headers or (), strict=headers is not None):
            rewrite = with_references(parsed, header)
            length = len(rewrite.head) + len(parsed.nal) - rewrite.kept_from
            patches.append(
                (
                    start,
                    start + size + rewrite.kept_from,
                    length.to_bytes(size, "big") + rewrite.head,
                )
            )
        return SampleRef(SOURCE_INPUT, sample.offset, sample.size, tuple(patches))


def write_decoder_input(
    source: CutSource, part: Reencode, sps_id: int, work_file: Callable[[], Path]
) -> Segment:
    """Write the samples ``part`` decodes from (:func:`decoded_samples`) as a standalone MP4."""
    video = source.video
    decoded = decoded_samples(source, part)
    samples = [video.samples[i] for i, _ in decoded]
    timed = retimed(samples, [s.pts for s in samples])
    out = [replace(ref(t, s), ref=r) for t, s, (_, r) in zip(timed, samples, decoded, strict=True)]
    shift = samples[0].pts - (timed[0].dts + timed[0].composition_offset)
    path = work_file()
    reader = source.reader
    with path.open("wb") as file:
        write_mp4(
            file,
            [OutTrack(video, out)],
            lambda ref: reader.read_at(ref.offset, ref.size),
        )
    return Segment(
        part=part,
        decoder_input=path,
        encoded=work_file(),
        sps_id=sps_id,
        first_pts=video.samples[part.frames[0]].pts - shift,
        end_pts=video.samples[part.frames[-1]].pts - shift + 1,
    )
