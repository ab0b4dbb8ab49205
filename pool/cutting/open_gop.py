"""Copying from an open-GOP keyframe: the first copied picture rewritten into an IDR.

An open-GOP source's keyframes are non-IDR I pictures (with a recovery
point): the pictures after one in decode order but shown before it (its
*leading pictures*) refer to the GOP before, which the clip does not carry.
The plan (:mod:`pool.cutting.smart_plan`) leaves them out of the copy; the
re-encoded head shows them. What is copied then starts cleanly once its
first picture is an IDR, as a decoder entering at the recovery point sees
it:

- every slice of the first picture becomes an IDR slice
  (:func:`pool.mp4.slice_rewrite.to_idr`);
- every slice after it, up to the next real IDR, gets frame_num and
  pic_order_cnt_lsb lowered by the keyframe's (so they count from the IDR's
  0 as they counted from the keyframe), and loses the memory management
  operations that unmark pictures from before the keyframe (gone with the
  IDR) (:func:`pool.mp4.slice_rewrite.renumbered`);
- the clip's SPS allows frame_num gaps: a leading picture left out that was
  a reference (x264's B-pyramid) leaves one, which a decoder fills with
  "non-existing" frames that keep the later pictures' numbering meaningful;
  the recovery point promises nothing later uses them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace

from pool.cutting.smart_plan import SmartCutUnsupported
from pool.cutting.source_samples import CutSource
from pool.mp4 import avc
from pool.mp4.h264_params import parse_pps, parse_sps, with_frame_num_gaps
from pool.mp4.rbsp import BitstreamError
from pool.mp4.slice_rewrite import Rewrite, renumbered, to_idr
from pool.mp4.slices import NAL_IDR, ParamSets, ParsedSlice, parse_header, sample_slices
from pool.mp4.writer import SampleRef

log = logging.getLogger(__name__)


def parameter_sets(config: avc.AvcConfig) -> ParamSets:
    """The avcC's PPS by id, each with its SPS; SmartCutUnsupported if a slice of this
    source cannot be rewritten (the reason says why)."""
    try:
        sps = {s.sps_id: s for s in map(parse_sps, config.sps)}
        pps = [parse_pps(p) for p in config.pps]
        params = {p.pps_id: (p, sps[p.sps_id]) for p in pps if p.sps_id in sps}
    except BitstreamError as exc:
        raise SmartCutUnsupported("open_gop", str(exc)) from None
    for p, s in params.values():
        if p.num_slice_groups > 1:
            raise SmartCutUnsupported("open_gop", "slice groups (FMO)")
        if not s.frame_mbs_only:
            raise SmartCutUnsupported("open_gop", "interlaced (field or MBAFF) coding")
        if s.poc_type == 1:
            raise SmartCutUnsupported("open_gop", "pic_order_cnt_type 1")
    return params


def open_gop_rewritable(config: avc.AvcConfig) -> bool:
    """Whether a keyframe that is not an IDR picture can start the copy (logs why not)."""
    try:
        parameter_sets(config)
    except SmartCutUnsupported as exc:
        log.debug("open-GOP keyframes stay re-encoded: %s", exc)
        return False
    return True


def copied_samples(
    source: CutSource, copy: Sequence[int]
) -> tuple[Iterator[SampleRef], avc.AvcConfig]:
    """The copied samples (indices, decode order) as the clip carries them, and the
    source's avcC as the clip carries it: rewritten when the first is not an IDR."""
    if not copy or source.is_idr(copy[0]):
        return (source.copied(source.video.samples[i]) for i in copy), source.config
    config = source.config
    clip_config = replace(config, sps=tuple(with_frame_num_gaps(s) for s in config.sps))
    return iter(_rewritten_copy(source, copy)), clip_config


def _rewritten_copy(source: CutSource, copy: Sequence[int]) -> list[SampleRef]:
    """The copied samples (indices, decode order; the first a non-IDR I picture) as the
    clip carries them: rewritten up to the next IDR, the rest as they are."""
    params = parameter_sets(source.config)
    samples = source.video.samples
    refs = [source.copied(samples[i]) for i in copy]
    # The head's IDR (x264's first) has idr_pic_id 0; an IDR right after ours must differ.
    after = _idr_pic_id(source, params, copy[1]) if len(copy) > 1 else None
    renumbering = _Renumbering(params, source.config.length_size, 2 if after == 1 else 1)
    for n, i in enumerate(copy):
        data = source.reader.read_at(samples[i].offset, samples[i].size)
        try:
            patches = renumbering.patches(data)
        except BitstreamError as exc:
            raise SmartCutUnsupported("open_gop", str(exc)) from None
        if patches is None:
            break
        merged = sorted([*refs[n].patches, *patches], key=lambda p: p[0])
        refs[n] = replace(refs[n], patches=tuple(merged))
    return refs


def _idr_pic_id(source: CutSource, params: ParamSets, index: int) -> int | None:
    """The idr_pic_id of sample ``index`` if it is an IDR picture."""
    if not source.is_idr(index):
        return None
    sample = source.video.samples[index]
    data = source.reader.read_at(sample.offset, sample.size)
    size = source.config.length_size
    for start, end, header in avc.nal_units(lambda at, n: data[at : at + n], len(data), size):
        if header & 0x1F == NAL_IDR:
            return parse_header(data[start + size : end], params).idr_pic_id
    return None


class _Renumbering:
    """Rewrites the slices of the copied samples in decode order (see the module's doc)."""

    def __init__(self, params: ParamSets, length_size: int, idr_pic_id: int) -> None:
        self._params = params
        self._length_size = length_size
        self._idr_pic_id = idr_pic_id
        self._shift: tuple[int, int] | None = None  # the keyframe's frame_num and POC lsb
        self._frame_nums = 0  # MaxFrameNum
        self._counted = 0  # frame_num since the IDR, not wrapped
        self._last = 0  # the last frame_num written

    def patches(self, sample: bytes) -> list[tuple[int, int, bytes]] | None:
        """(start, end, new bytes) for each slice of ``sample``; None from the next IDR on.

        The first sample given is the keyframe that becomes the IDR.
        """
        size = self._length_size
        first = self._shift is None
        if not first and NAL_IDR in avc.nal_types(sample, size):
            return None
        patches = []
        for start, nal in sample_slices(sample, size, self._params):
            rewrite = self._keyframe(nal) if first else self._renumbered(nal)
            patches.append(rewrite.patch(start, len(nal.nal), size))
        return patches

    def _keyframe(self, nal: ParsedSlice) -> Rewrite:
        if self._shift is None:
            self._shift = (nal.header.frame_num, nal.header.poc_lsb or 0)
            self._frame_nums = 1 << nal.header.frame_num_width
        return to_idr(nal, self._idr_pic_id)

    def _renumbered(self, nal: ParsedSlice) -> Rewrite:
        assert self._shift is not None
        frame_num = (nal.header.frame_num - self._shift[0]) % self._frame_nums
        self._counted += (frame_num - self._last) % self._frame_nums
        self._last = frame_num
        # Until frame_num wraps, a picNum below 0 names a picture before the IDR.
        drop_before = 0 if self._counted < self._frame_nums else None
        return renumbered(nal, *self._shift, drop_before)
