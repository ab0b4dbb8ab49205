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
from pool.mp4.rbsp import BitstreamError
from pool.mp4.references import Picture, plan_decode
from pool.mp4.samples import Sample
from pool.mp4.slice_rewrite import with_references
from pool.mp4.slices import ParamSets, SliceHeader, sample_slices
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
    first_shown = source.video.samples.pts[part.frames[0]]
    span = source.video.samples[part.decode_from : part.decode_to]
    # The bytes of the pictures shown before the segment are read to tell references;
    # the others' only if the simulation runs.
    read: list[tuple[int, Sample, bytes | None]] = []
    for index, sample in enumerate(span, start=part.decode_from):
        if sample.pts >= first_shown:
            read.append((index, sample, None))
        elif source.is_reference(data := source.reader.read_at(sample.offset, sample.size)):
            read.append((index, sample, data))
    whole = [(i, SampleRef(SOURCE_INPUT, s.offset, s.size)) for i, s, _ in read]
    if not source.is_idr(part.decode_from) or not _reordered_reference(read, first_shown):
        return whole
    try:
        params = parameter_sets(source.config)
        size = source.config.length_size
        pictures = {
            i: _Slices(i, sample, data or source.reader.read_at(sample.offset, sample.size),
                       params, size)
            for i, sample, data in read
        }  # fmt: skip
        plan = plan_decode([p.picture for p in pictures.values()], part.frames)
        return [(i, pictures[i].rewritten(plan.headers.get(i))) for i in plan.keys]
    except (BitstreamError, SmartCutUnsupported) as exc:
        log.debug("every reference picture before the segment is decoded: %s", exc)
        return whole


def _reordered_reference(read: list[tuple[int, Sample, bytes | None]], first_shown: int) -> bool:
    """Whether a picture shown before the segment (in ``read``, a reference) is shown
    before one decoded ahead of it: a B-frame others refer to, which the simulation may
    leave out. Without any, it is not run (a chain of P-frames needs every link)."""
    latest = None
    for _, sample, _ in read:
        if latest is not None and sample.pts < min(latest, first_shown):
            return True
        latest = sample.pts if latest is None else max(latest, sample.pts)
    return False


class _Slices:
    """A source sample's slices, parsed, and the sample with their headers rewritten."""

    def __init__(
        self, index: int, sample: Sample, data: bytes, params: ParamSets, length_size: int
    ) -> None:
        self._sample = sample
        self._length_size = length_size
        self._slices = sample_slices(data, length_size, params)
        if not self._slices:
            raise SmartCutUnsupported("bitstream", f"sample {index} has no slice")
        headers = tuple(parsed.header for _, parsed in self._slices)
        self.picture = Picture(index, params[headers[0].pps_id][1], headers)

    def rewritten(self, headers: tuple[SliceHeader, ...] | None) -> SampleRef:
        """The sample as the decoder reads it: with ``headers`` written, if any."""
        sample = self._sample
        patches = tuple(
            with_references(parsed, header).patch(start, len(parsed.nal), self._length_size)
            for (start, parsed), header in zip(self._slices, headers or (), strict=bool(headers))
        )
        return SampleRef(SOURCE_INPUT, sample.offset, sample.size, patches)


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
