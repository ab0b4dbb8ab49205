"""H.264 sequence and picture parameter sets: the fields that slice headers and re-encoding need.

Parses SPS (7.3.2.1.1) and PPS (7.3.2.2) NAL units far enough to read a
slice header (:mod:`pool.mp4.slices`) and to describe the picture format to
an encoder. :func:`with_frame_num_gaps` writes an SPS back with one flag set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pool.mp4.rbsp import BitReader, BitstreamError, BitWriter, escape, unescape

#: profile_idc values whose SPS carries chroma format and bit depth.
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


@dataclass(frozen=True)
class SpsFormat:
    """What an SPS says about the picture format and how to display it."""

    profile: int
    level: int
    chroma_format: int  # 1 = 4:2:0
    bit_depth: int
    # From the VUI; None where the SPS does not say.
    sar: tuple[int, int] | None = None
    full_range: bool | None = None
    colour: tuple[int, int, int] | None = None  # primaries, transfer, matrix (ISO/IEC 23091-2)


@dataclass(frozen=True)
class Sps:
    """A sequence parameter set's fields for slice parsing, and its picture format."""

    sps_id: int
    format: SpsFormat
    separate_colour_plane: bool
    log2_max_frame_num: int
    poc_type: int
    log2_max_poc_lsb: int  # 0 unless poc_type is 0
    max_num_ref_frames: int
    gaps_allowed: bool
    gaps_flag_at: int  # RBSP bit position of gaps_in_frame_num_value_allowed_flag
    frame_mbs_only: bool

    @property
    def chroma_array_type(self) -> int:
        """ChromaArrayType (7.4.2.1.1): 0 for monochrome or separately coded planes."""
        return 0 if self.separate_colour_plane else self.format.chroma_format


@dataclass(frozen=True)
class Pps:
    """A picture parameter set's fields for slice parsing."""

    pps_id: int
    sps_id: int
    entropy_coding_mode: bool  # CABAC
    bottom_field_pic_order_in_frame_present: bool
    num_slice_groups: int
    num_ref_idx_default: tuple[int, int]  # num_ref_idx_l0/l1_default_active_minus1 + 1
    weighted_pred: bool
    weighted_bipred_idc: int
    deblocking_filter_control_present: bool
    redundant_pic_cnt_present: bool


#: aspect_ratio_idc 1..16 → sample aspect ratio (H.264 Table E-1).
_SAR = {
    1: (1, 1), 2: (12, 11), 3: (10, 11), 4: (16, 11), 5: (40, 33), 6: (24, 11), 7: (20, 11),
    8: (32, 11), 9: (80, 33), 10: (18, 11), 11: (15, 11), 12: (64, 33), 13: (160, 99),
    14: (4, 3), 15: (3, 2), 16: (2, 1),
}  # fmt: skip
_EXTENDED_SAR = 255


def parse_sps(nal: bytes) -> Sps:
    """Read an SPS NAL unit (its header byte first)."""
    bits = BitReader(unescape(nal[1:]))
    profile = bits.bits(8)
    bits.bits(8)  # constraint flags
    level = bits.bits(8)
    sps_id = bits.ue()
    chroma, depth, separate = 1, 8, False
    if profile in _HIGH_PROFILES:
        chroma = bits.ue()
        if chroma == 3:
            separate = bool(bits.bit())
        depth = bits.ue() + 8
        bits.ue()  # bit_depth_chroma_minus8
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.bit():  # seq_scaling_matrix_present_flag
            for n in range(8 if chroma != 3 else 12):
                if bits.bit():
                    _skip_scaling_list(bits, 16 if n < 6 else 64)
    log2_max_frame_num = bits.ue() + 4
    poc_type = bits.ue()
    log2_max_poc_lsb = 0
    if poc_type == 0:
        log2_max_poc_lsb = bits.ue() + 4
    elif poc_type == 1:
        bits.bit()  # delta_pic_order_always_zero_flag
        bits.se()  # offset_for_non_ref_pic
        bits.se()  # offset_for_top_to_bottom_field
        for _ in range(bits.ue()):
            bits.se()
    max_num_ref_frames = bits.ue()
    gaps_at = bits.pos
    gaps = bool(bits.bit())
    bits.ue()  # width
    bits.ue()  # height
    frame_mbs_only = bool(bits.bit())
    if not frame_mbs_only:
        bits.bit()  # mb_adaptive_frame_field_flag
    bits.bit()  # direct_8x8_inference_flag
    if bits.bit():  # frame_cropping_flag
        for _ in range(4):
            bits.ue()
    return Sps(
        sps_id=sps_id,
        format=_vui_format(bits, SpsFormat(profile, level, chroma, depth)),
        separate_colour_plane=separate,
        log2_max_frame_num=log2_max_frame_num,
        poc_type=poc_type,
        log2_max_poc_lsb=log2_max_poc_lsb,
        max_num_ref_frames=max_num_ref_frames,
        gaps_allowed=gaps,
        gaps_flag_at=gaps_at,
        frame_mbs_only=frame_mbs_only,
    )


def _vui_format(bits: BitReader, fmt: SpsFormat) -> SpsFormat:
    """``fmt`` with the display fields of the VUI that follows (if any)."""
    if not bits.bit():  # vui_parameters_present_flag
        return fmt
    sar = None
    if bits.bit():  # aspect_ratio_info_present_flag
        idc = bits.bits(8)
        sar = (bits.bits(16), bits.bits(16)) if idc == _EXTENDED_SAR else _SAR.get(idc)
    if bits.bit():  # overscan_info_present_flag
        bits.bit()
    full_range = colour = None
    if bits.bit():  # video_signal_type_present_flag
        bits.bits(3)  # video_format
        full_range = bool(bits.bit())
        if bits.bit():  # colour_description_present_flag
            colour = (bits.bits(8), bits.bits(8), bits.bits(8))
    return replace(fmt, sar=sar, full_range=full_range, colour=colour)


def _skip_scaling_list(bits: BitReader, size: int) -> None:
    last = following = 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last


def parse_pps(nal: bytes) -> Pps:
    """Read a PPS NAL unit (its header byte first) up to the fields slices depend on."""
    bits = BitReader(unescape(nal[1:]))
    pps_id, sps_id = bits.ue(), bits.ue()
    cabac = bool(bits.bit())
    bottom_field_poc = bool(bits.bit())
    groups = bits.ue() + 1
    if groups > 1:
        # Slice groups (FMO, Baseline's extended toolset): nothing here cuts them.
        return Pps(pps_id, sps_id, cabac, bottom_field_poc, groups, (0, 0), False, 0, False, False)
    l0, l1 = bits.ue() + 1, bits.ue() + 1
    weighted_pred = bool(bits.bit())
    weighted_bipred = bits.bits(2)
    bits.se()  # pic_init_qp_minus26
    bits.se()  # pic_init_qs_minus26
    bits.se()  # chroma_qp_index_offset
    deblocking = bool(bits.bit())
    bits.bit()  # constrained_intra_pred_flag
    redundant = bool(bits.bit())
    return Pps(
        pps_id,
        sps_id,
        cabac,
        bottom_field_poc,
        groups,
        (l0, l1),
        weighted_pred,
        weighted_bipred,
        deblocking,
        redundant,
    )


def with_frame_num_gaps(nal: bytes) -> bytes:
    """The SPS NAL unit with gaps_in_frame_num_value_allowed_flag set (same length).

    A decoder then fills a frame_num gap with "non-existing" frames (8.2.5.2)
    instead of treating it as a loss.
    """
    sps = parse_sps(nal)
    if sps.gaps_allowed:
        return nal
    rbsp = unescape(nal[1:])
    at = sps.gaps_flag_at
    out = BitWriter()
    reader = BitReader(rbsp)
    out.copy(reader, at)
    out.bits(1, 1)
    reader.pos += 1
    out.copy(reader, len(rbsp) * 8)
    if out.length != len(rbsp) * 8:
        raise BitstreamError("SPS length changed")
    return nal[:1] + escape(out.to_bytes())
