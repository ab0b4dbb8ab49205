"""H.264 slice headers written back: with new numbering, or as an IDR picture's.

The open-GOP smart cut starts its copy at a non-IDR I picture. That picture
becomes an IDR (:func:`to_idr`), and every slice after it, up to the next
real IDR, is renumbered (:func:`renumbered`): frame_num and
pic_order_cnt_lsb shifted so the new IDR has 0 for both, and memory
management operations that name pictures from before it dropped (they name
nothing once the IDR has emptied the decoded picture buffer).

A header is re-serialised from the fields :mod:`pool.mp4.slices` read; the
slice data after it is kept bit for bit (CABAC data starts byte-aligned,
after cabac_alignment_one_bits that are re-padded; CAVLC data is shifted
when the header's length changes). Only the first bytes of a slice are
unescaped and rewritten when that is enough: the rest is copied as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pool.mp4.rbsp import BitReader, BitWriter, escape, stop_bit, unescape
from pool.mp4.slices import (
    I_SLICES,
    NAL_IDR,
    NAL_NON_IDR,
    ParsedSlice,
    SliceHeader,
    SliceUnsupported,
    modified_lists,
)


@dataclass(frozen=True)
class Rewrite:
    """A rewritten NAL unit: ``head``, then the original's bytes from ``kept_from`` on."""

    head: bytes
    kept_from: int

    def apply(self, nal: bytes) -> bytes:
        """The whole rewritten NAL unit."""
        return self.head + nal[self.kept_from :]

    def patch(self, start: int, nal_size: int, length_size: int) -> tuple[int, int, bytes]:
        """A :class:`~pool.mp4.writer.SampleRef` patch writing this over the NAL unit of
        ``nal_size`` bytes whose length prefix starts at ``start`` in its sample."""
        length = len(self.head) + nal_size - self.kept_from
        prefix = length.to_bytes(length_size, "big")
        return start, start + length_size + self.kept_from, prefix + self.head


def to_idr(parsed: ParsedSlice, idr_pic_id: int) -> Rewrite:
    """An I slice of a non-IDR picture rewritten as an IDR slice.

    nal_unit_type 5, frame_num 0, ``idr_pic_id`` inserted, pic_order_cnt_lsb
    0 (an IDR picture's order count is 0: 8.2.1), and the IDR form of
    dec_ref_pic_marking (prior pictures output, not long-term) in place of
    the original's, whose operations concern pictures the IDR discards.
    """
    header = parsed.header
    if header.slice_type not in I_SLICES or not header.is_reference:
        raise SliceUnsupported("only a reference I picture can become an IDR")
    _short_term_only(header)
    fields = replace(header, nal_header=(header.nal_header & 0xE0) | NAL_IDR)
    return _rewritten(parsed, fields, frame_num=0, poc_lsb=0, idr_pic_id=idr_pic_id)


def renumbered(
    parsed: ParsedSlice, frame_num_shift: int, poc_shift: int, drop_before: int | None
) -> Rewrite:
    """A non-IDR slice with frame_num and pic_order_cnt_lsb lowered by the shifts (modulo
    their ranges), without the memory management operations that name a picture whose
    picNum (after the shift) is below ``drop_before`` (None: keep them all)."""
    header = parsed.header
    if header.nal_type != NAL_NON_IDR:
        raise SliceUnsupported("only non-IDR slices are renumbered")
    frame_num = (header.frame_num - frame_num_shift) % (1 << header.frame_num_width)
    poc_lsb = None
    if header.poc_lsb is not None:
        poc_lsb = (header.poc_lsb - poc_shift) % (1 << header.poc_lsb_width)
    _short_term_only(header)
    fields = header
    if header.mmcos is not None and drop_before is not None:
        # picNumX = CurrPicNum - (difference_of_pic_nums_minus1 + 1) (8.2.5.4.1)
        kept = tuple(m for m in header.mmcos if frame_num - (m.args[0] + 1) >= drop_before)
        fields = replace(header, mmcos=kept)
    return _rewritten(parsed, fields, frame_num=frame_num, poc_lsb=poc_lsb)


def with_references(parsed: ParsedSlice, header: SliceHeader) -> Rewrite:
    """A non-IDR slice with ``header``'s frame_num, reference list modifications and
    memory management operations (its other fields as they were).

    The decoder input of a re-encoded segment leaves out reference pictures
    nothing needs, and renumbers what follows them (:mod:`pool.mp4.references`).
    """
    if parsed.header.nal_type != NAL_NON_IDR:
        raise SliceUnsupported("only non-IDR slices are renumbered")
    _short_term_only(header)
    return _rewritten(parsed, header, frame_num=header.frame_num, poc_lsb=header.poc_lsb)


def _short_term_only(header: SliceHeader) -> None:
    """Refuse memory management other than unmarking short-term pictures (operation 1).

    Long-term references (operations 2, 3, 4, 6) are numbered apart from
    frame_num and are not checked against the IDR, and operation 5 restarts
    frame_num and POC, which the constant shift relies on.
    """
    if any(m.op != 1 for m in header.mmcos or ()):
        raise SliceUnsupported("memory management beyond unmarking short-term pictures")


def _rewritten(
    parsed: ParsedSlice,
    header: SliceHeader,
    *,
    frame_num: int,
    poc_lsb: int | None,
    idr_pic_id: int | None = None,
) -> Rewrite:
    """The NAL unit with ``header``'s NAL type and marking and the given field values."""
    nal, rbsp, cut = parsed.nal, parsed.rbsp, parsed.cut
    old = BitReader(rbsp)
    out = BitWriter()
    out.copy(old, header.frame_num_at)
    out.bits(header.idr_pic_id_span[0] - header.frame_num_at, frame_num)
    old.pos = header.idr_pic_id_span[1]
    if idr_pic_id is not None:
        out.ue(idr_pic_id)
    if poc_lsb is not None:
        out.copy(old, header.poc_lsb_at)
        out.bits(header.poc_lsb_width, poc_lsb)
        old.pos += header.poc_lsb_width
    out.copy(old, header.modification_span[0])
    _write_modifications(out, header)
    old.pos = header.modification_span[1]
    out.copy(old, header.marking_span[0])
    if header.is_reference:
        _write_marking(out, header, idr=idr_pic_id is not None)
    old.pos = header.marking_span[1]
    out.copy(old, header.end)
    kept_from = 1 + cut  # the prefix's escaped bytes end there
    if out.length == header.end:
        # Same length: the rest of the prefix follows bit for bit.
        out.copy(old, len(rbsp) * 8)
    elif header.cabac:
        # cabac_alignment_one_bits, then the byte-aligned slice data as it was.
        out.aligned(1)
        old.pos = -(-header.end // 8) * 8
        out.copy(old, len(rbsp) * 8)
    else:
        rbsp = unescape(nal[1:])
        old = BitReader(rbsp, header.end)
        out.copy(old, stop_bit(rbsp))
        out.bits(1, 1)  # rbsp_stop_one_bit
        out.aligned(0)
        kept_from = len(nal)
    return Rewrite(bytes([header.nal_header]) + escape(out.to_bytes()), kept_from)


def _write_modifications(out: BitWriter, header: SliceHeader) -> None:
    for present, flag, ops in zip(
        modified_lists(header.slice_type),
        header.modification_flags,
        header.modifications,
        strict=True,
    ):
        if not present:
            continue
        out.bits(1, int(flag or bool(ops)))
        for idc, value in ops:
            out.ue(idc)
            out.ue(value)
        if flag or ops:
            out.ue(3)


def _write_marking(out: BitWriter, header: SliceHeader, *, idr: bool) -> None:
    if idr:
        out.bits(1, 0)  # no_output_of_prior_pics_flag
        out.bits(1, int(header.long_term_reference))
        return
    if header.mmcos is None:
        out.bits(1, 0)  # adaptive_ref_pic_marking_mode_flag
        return
    out.bits(1, 1)
    for mmco in header.mmcos:
        out.ue(mmco.op)
        for arg in mmco.args:
            out.ue(arg)
    out.ue(0)
