"""H.264 slice headers (7.3.3): every field up to the slice data, and where each one is.

Reads what :mod:`pool.mp4.slice_rewrite` needs to write a header back with
other values. Only progressive frame coding without slice groups and with
pic_order_cnt_type 0 or 2 is read; anything else raises
:class:`SliceUnsupported`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pool.mp4.avc import nal_units
from pool.mp4.h264_params import Pps, Sps
from pool.mp4.rbsp import BitReader, BitstreamError, unescape

NAL_NON_IDR = 1
NAL_IDR = 5
SLICE_NALS = (NAL_NON_IDR, NAL_IDR)
_P, _B, _I, _SP, _SI = range(5)
I_SLICES = (_I, _SI)
B_SLICE = _B
#: memory_management_control_operation values and how many ue(v) arguments each has.
_MMCO_ARGS = {1: 1, 2: 1, 3: 2, 4: 1, 5: 0, 6: 1}
#: Escaped bytes of a slice read at first: its header fits in these almost always.
_FIRST_READ = 64


class SliceUnsupported(BitstreamError):
    """A slice this module cannot rewrite (fields, interlace, slice groups, long-term refs)."""


@dataclass(frozen=True)
class Mmco:
    """One memory_management_control_operation and its ue(v) arguments."""

    op: int
    args: tuple[int, ...]


@dataclass(frozen=True)
class SliceHeader:
    """The fields of a slice header this module changes, and where the others are.

    Bit positions are in the slice's RBSP (after the NAL header byte).
    """

    nal_header: int
    slice_type: int  # 0..4 (slice_type % 5)
    pps_id: int
    frame_num: int
    frame_num_at: int  # where frame_num starts
    idr_pic_id: int | None
    idr_pic_id_span: tuple[int, int]  # empty (at, at) in a non-IDR slice: where it would go
    poc_lsb: int | None  # None unless pic_order_cnt_type is 0
    poc_lsb_at: int
    poc_lsb_width: int
    poc_bottom_delta: int  # delta_pic_order_cnt_bottom (0 when absent)
    ref_idx_active: tuple[int, int]  # num_ref_idx_l0/l1_active_minus1 + 1 (0: no such list)
    #: ref_pic_list_modification() of list 0 and list 1: (modification_of_pic_nums_idc, value).
    modifications: tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]
    modification_flags: tuple[bool, bool]  # ref_pic_list_modification_flag_l0/l1
    modification_span: tuple[int, int]  # ref_pic_list_modification()
    marking_span: tuple[int, int]  # dec_ref_pic_marking(); empty when nal_ref_idc is 0
    mmcos: tuple[Mmco, ...] | None  # None: sliding window (or an IDR's marking)
    long_term_reference: bool  # an IDR's long_term_reference_flag
    end: int  # where the header ends (the slice data, or CABAC's alignment, starts)
    cabac: bool

    @property
    def nal_type(self) -> int:
        """nal_unit_type."""
        return self.nal_header & 0x1F

    @property
    def frame_num_width(self) -> int:
        """Bits of frame_num (log2_max_frame_num)."""
        return self.idr_pic_id_span[0] - self.frame_num_at

    @property
    def is_reference(self) -> bool:
        """nal_ref_idc is not 0."""
        return bool(self.nal_header & 0x60)


#: Parameter sets by id: the PPS, and the SPS it refers to.
ParamSets = Mapping[int, tuple[Pps, Sps]]


@dataclass(frozen=True)
class ParsedSlice:
    """A slice NAL unit, its header, and the RBSP of the first payload bytes that hold it.

    ``rbsp`` is the unescaped ``nal[1 : 1 + cut]``. Unless ``cut`` reaches
    the end, the prefix ends in a byte above 3, so no emulation prevention
    sequence straddles it and it can be rewritten apart from the rest.
    """

    nal: bytes
    header: SliceHeader
    rbsp: bytes
    cut: int


def parse_header(nal: bytes, params: ParamSets) -> SliceHeader:
    """Read the header of a slice NAL unit (its header byte first)."""
    return parse_slice(nal, params).header


def parse_slice(nal: bytes, params: ParamSets) -> ParsedSlice:
    """Read the header of a slice NAL unit, unescaping no more of it than that needs."""
    payload = nal[1:]
    size = _FIRST_READ
    while True:
        cut = _clean_cut(payload, size)
        rbsp = unescape(payload[:cut])
        # The prefix's last byte stays unchanged by any rewrite: parse without it.
        limit = rbsp if cut == len(payload) else rbsp[:-1]
        try:
            return ParsedSlice(nal, _parse(nal[0], limit, params), rbsp, cut)
        except SliceUnsupported:
            raise
        except BitstreamError:
            if cut == len(payload):
                raise
        size *= 4


def sample_slices(
    sample: bytes, length_size: int, params: ParamSets
) -> list[tuple[int, ParsedSlice]]:
    """Every slice NAL unit of a length-prefixed sample, read, with where its length
    prefix starts in the sample."""
    units = nal_units(lambda at, n: sample[at : at + n], len(sample), length_size)
    return [
        (start, parse_slice(sample[start + length_size : end], params))
        for start, end, header in units
        if header & 0x1F in SLICE_NALS
    ]


def _clean_cut(payload: bytes, size: int) -> int:
    """An escaped length of at least ``size`` whose last byte is above 3 (or the whole)."""
    for cut in range(size, len(payload)):
        if payload[cut - 1] > 3:
            return cut
    return len(payload)


def _parse(nal_header: int, rbsp: bytes, params: ParamSets) -> SliceHeader:
    nal_type = nal_header & 0x1F
    if nal_type not in SLICE_NALS:
        raise SliceUnsupported(f"NAL unit type {nal_type} is not a slice")
    bits = BitReader(rbsp)
    bits.ue()  # first_mb_in_slice
    slice_type = bits.ue() % 5
    pps_id = bits.ue()
    if pps_id not in params:
        raise SliceUnsupported(f"a slice refers to PPS {pps_id}, which is not in the avcC")
    pps, sps = params[pps_id]
    if pps.num_slice_groups > 1:
        raise SliceUnsupported("slice groups (FMO)")
    if not sps.frame_mbs_only:
        raise SliceUnsupported("field or MBAFF coding (interlaced)")
    if sps.poc_type == 1:
        raise SliceUnsupported("pic_order_cnt_type 1")
    if sps.separate_colour_plane:
        bits.bits(2)  # colour_plane_id
    frame_num_at = bits.pos
    frame_num = bits.bits(sps.log2_max_frame_num)
    idr_at = bits.pos
    idr_pic_id = bits.ue() if nal_type == NAL_IDR else None
    idr_span = (idr_at, bits.pos)
    poc_lsb_at, poc_lsb, bottom_delta = bits.pos, None, 0
    if sps.poc_type == 0:
        poc_lsb = bits.bits(sps.log2_max_poc_lsb)
        if pps.bottom_field_pic_order_in_frame_present:
            bottom_delta = bits.se()
    if pps.redundant_pic_cnt_present:
        bits.ue()
    if slice_type == _B:
        bits.bit()  # direct_spatial_mv_pred_flag
    refs = list(pps.num_ref_idx_default)
    if slice_type in (_P, _SP, _B) and bits.bit():  # num_ref_idx_active_override_flag
        refs[0] = bits.ue() + 1
        if slice_type == _B:
            refs[1] = bits.ue() + 1
    modification_at = bits.pos
    flags, modifications = _read_list_modifications(bits, slice_type)
    modification_span = (modification_at, bits.pos)
    if slice_type in I_SLICES:
        refs = [0, 0]
    elif slice_type != _B:
        refs[1] = 0
    if (pps.weighted_pred and slice_type in (_P, _SP)) or (
        pps.weighted_bipred_idc == 1 and slice_type == _B
    ):
        _skip_weight_table(bits, slice_type, refs, sps.chroma_array_type)
    marking_at = bits.pos
    mmcos: tuple[Mmco, ...] | None = None
    long_term = False
    if nal_header & 0x60:
        if nal_type == NAL_IDR:
            bits.bit()  # no_output_of_prior_pics_flag
            long_term = bool(bits.bit())
        elif bits.bit():  # adaptive_ref_pic_marking_mode_flag
            mmcos = _read_mmcos(bits)
    marking_span = (marking_at, bits.pos)
    if pps.entropy_coding_mode and slice_type not in (_I, _SI):
        bits.ue()  # cabac_init_idc
    bits.se()  # slice_qp_delta
    if slice_type in (_SP, _SI):
        if slice_type == _SP:
            bits.bit()  # sp_for_switch_flag
        bits.se()  # slice_qs_delta
    if pps.deblocking_filter_control_present and bits.ue() != 1:
        bits.se()  # slice_alpha_c0_offset_div2
        bits.se()  # slice_beta_offset_div2
    return SliceHeader(
        nal_header=nal_header,
        slice_type=slice_type,
        pps_id=pps_id,
        frame_num=frame_num,
        frame_num_at=frame_num_at,
        idr_pic_id=idr_pic_id,
        idr_pic_id_span=idr_span,
        poc_lsb=poc_lsb,
        poc_lsb_at=poc_lsb_at,
        poc_lsb_width=sps.log2_max_poc_lsb if poc_lsb is not None else 0,
        poc_bottom_delta=bottom_delta,
        ref_idx_active=(refs[0], refs[1]),
        modifications=modifications,
        modification_flags=flags,
        modification_span=modification_span,
        marking_span=marking_span,
        mmcos=mmcos,
        long_term_reference=long_term,
        end=bits.pos,
        cabac=pps.entropy_coding_mode,
    )


def modified_lists(slice_type: int) -> tuple[bool, bool]:
    """Whether a slice of this type has ref_pic_list_modification() of list 0, of list 1."""
    return slice_type not in I_SLICES, slice_type == _B


def _read_list_modifications(
    bits: BitReader, slice_type: int
) -> tuple[tuple[bool, bool], tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]]:
    flags: list[bool] = []
    lists: list[tuple[tuple[int, int], ...]] = []
    for present in modified_lists(slice_type):
        ops = []
        flag = present and bool(bits.bit())  # ref_pic_list_modification_flag_lX
        if flag:
            while (idc := bits.ue()) != 3:
                if idc > 5:
                    raise SliceUnsupported(f"modification_of_pic_nums_idc {idc}")
                ops.append((idc, bits.ue()))  # abs_diff_pic_num_minus1 or long_term_pic_num
        flags.append(flag)
        lists.append(tuple(ops))
    return (flags[0], flags[1]), (lists[0], lists[1])


def _skip_weight_table(bits: BitReader, slice_type: int, refs: list[int], chroma: int) -> None:
    bits.ue()  # luma_log2_weight_denom
    if chroma:
        bits.ue()  # chroma_log2_weight_denom
    for count in refs[: 2 if slice_type == _B else 1]:
        for _ in range(count):
            if bits.bit():  # luma_weight_flag
                bits.se()
                bits.se()
            if chroma and bits.bit():  # chroma_weight_flag
                for _ in range(4):
                    bits.se()


def _read_mmcos(bits: BitReader) -> tuple[Mmco, ...]:
    ops = []
    while (op := bits.ue()) != 0:
        if op not in _MMCO_ARGS:
            raise SliceUnsupported(f"memory_management_control_operation {op}")
        ops.append(Mmco(op, tuple(bits.ue() for _ in range(_MMCO_ARGS[op]))))
    return tuple(ops)
