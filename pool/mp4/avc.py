"""The few H.264 facts the smart cut needs: avcC records, parameter-set ids, IDR samples.

An MP4 ``avc1`` sample carries NAL units prefixed with their length; its
decoder configuration (``avcC``) carries the SPS and PPS. A smart-cut clip
holds two encoders' output, each with its own parameter sets: they get
distinct ids and both go into one ``avcC``, so a decoder has every set from
the start and each slice finds its own.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

NAL_IDR = 5
NAL_NON_IDR = 1
NAL_SPS = 7
NAL_PPS = 8

#: profile_idc values whose SPS carries chroma format and bit depth.
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
#: profile_idc → the x264 profile that produces it (8-bit 4:2:0 only).
X264_PROFILES = {66: "baseline", 77: "main", 100: "high"}


class AvcError(ValueError):
    """An H.264 structure this module cannot use."""


@dataclass(frozen=True)
class AvcConfig:
    """An ``avcC`` decoder configuration record."""

    profile: int
    compatibility: int
    level: int
    length_size: int  # bytes of the NAL length prefix in each sample
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]
    extension: bytes = b""  # chroma/bit-depth fields of High profiles, kept as is

    @classmethod
    def parse(cls, record: bytes) -> AvcConfig:
        """Read an ``avcC`` box payload."""
        try:
            if record[0] != 1:
                raise AvcError("unknown avcC version")
            pos = 6
            sps: list[bytes] = []
            for _ in range(record[5] & 0x1F):
                (size,) = struct.unpack_from(">H", record, pos)
                sps.append(record[pos + 2 : pos + 2 + size])
                pos += 2 + size
            pps: list[bytes] = []
            count = record[pos]
            pos += 1
            for _ in range(count):
                (size,) = struct.unpack_from(">H", record, pos)
                pps.append(record[pos + 2 : pos + 2 + size])
                pos += 2 + size
        except (IndexError, struct.error):
            raise AvcError("truncated avcC") from None
        if not sps or not pps:
            raise AvcError("avcC without parameter sets")
        return cls(
            profile=record[1],
            compatibility=record[2],
            level=record[3],
            length_size=(record[4] & 0x03) + 1,
            sps=tuple(sps),
            pps=tuple(pps),
            extension=record[pos:],
        )

    def serialize(self) -> bytes:
        """The ``avcC`` payload."""
        out = bytearray(
            [1, self.profile, self.compatibility, self.level, 0xFC | (self.length_size - 1)]
        )
        out.append(0xE0 | len(self.sps))
        for nal in self.sps:
            out += struct.pack(">H", len(nal)) + nal
        out.append(len(self.pps))
        for nal in self.pps:
            out += struct.pack(">H", len(nal)) + nal
        return bytes(out + self.extension)

    def merged(self, other: AvcConfig) -> AvcConfig:
        """This record plus ``other``'s parameter sets (whose ids must not clash)."""
        if other.length_size != self.length_size:
            raise AvcError("NAL length sizes differ")
        new_sps = [s for s in other.sps if s not in self.sps]
        new_pps = [p for p in other.pps if p not in self.pps]
        sps_clash = {sps_id(s) for s in new_sps} & {sps_id(s) for s in self.sps}
        pps_clash = {pps_ids(p)[0] for p in new_pps} & {pps_ids(p)[0] for p in self.pps}
        if sps_clash or pps_clash:
            raise AvcError("parameter set ids clash")
        return AvcConfig(
            profile=self.profile,
            compatibility=self.compatibility,
            level=self.level,
            length_size=self.length_size,
            sps=self.sps + tuple(new_sps),
            pps=self.pps + tuple(new_pps),
            extension=self.extension,
        )

    def used_ids(self) -> set[int]:
        """Every SPS and PPS id in the record."""
        return {sps_id(s) for s in self.sps} | {pps_ids(p)[0] for p in self.pps}


class _Bits:
    """Reads the RBSP of a NAL unit (emulation prevention removed) bit by bit."""

    def __init__(self, nal: bytes) -> None:
        self.data = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")
        self.pos = 0

    def bit(self) -> int:
        byte = self.pos >> 3
        if byte >= len(self.data):
            raise AvcError("parameter set ends early")
        value = (self.data[byte] >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise AvcError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


def sps_id(sps: bytes) -> int:
    """seq_parameter_set_id of an SPS NAL unit."""
    bits = _Bits(sps)
    bits.bits(24)  # profile_idc, constraint flags, level_idc
    return bits.ue()


def pps_ids(pps: bytes) -> tuple[int, int]:
    """(pic_parameter_set_id, seq_parameter_set_id) of a PPS NAL unit."""
    bits = _Bits(pps)
    return bits.ue(), bits.ue()


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


#: aspect_ratio_idc 1..16 → sample aspect ratio (H.264 Table E-1).
_SAR = {
    1: (1, 1), 2: (12, 11), 3: (10, 11), 4: (16, 11), 5: (40, 33), 6: (24, 11), 7: (20, 11),
    8: (32, 11), 9: (80, 33), 10: (18, 11), 11: (15, 11), 12: (64, 33), 13: (160, 99),
    14: (4, 3), 15: (3, 2), 16: (2, 1),
}  # fmt: skip
_EXTENDED_SAR = 255


def sps_format(sps: bytes) -> SpsFormat:
    """Profile, level, chroma format, bit depth and display fields of an SPS NAL unit."""
    bits = _Bits(sps)
    profile = bits.bits(8)
    bits.bits(8)
    level = bits.bits(8)
    bits.ue()  # seq_parameter_set_id
    chroma, depth = 1, 8
    if profile in _HIGH_PROFILES:
        chroma = bits.ue()
        if chroma == 3:
            bits.bit()
        depth = bits.ue() + 8
        bits.ue()  # bit_depth_chroma_minus8
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.bit():  # seq_scaling_matrix_present_flag
            for n in range(8 if chroma != 3 else 12):
                if bits.bit():
                    _skip_scaling_list(bits, 16 if n < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.bit()
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.bit()  # gaps_in_frame_num_value_allowed_flag
    bits.ue()  # width
    bits.ue()  # height
    if not bits.bit():  # frame_mbs_only_flag
        bits.bit()
    bits.bit()  # direct_8x8_inference_flag
    if bits.bit():  # frame_cropping_flag
        for _ in range(4):
            bits.ue()
    fmt = SpsFormat(profile=profile, level=level, chroma_format=chroma, bit_depth=depth)
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
    return SpsFormat(profile, level, chroma, depth, sar, full_range, colour)


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = following = 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last


#: Reads ``size`` bytes at ``offset`` within one sample (fewer only at its end).
ReadWithin = Callable[[int, int], bytes]


def nal_units(read: ReadWithin, sample_size: int, length_size: int) -> list[tuple[int, int, int]]:
    """Each NAL unit of a length-prefixed sample: (start of its prefix, end, header byte).

    Reads only the length prefixes and header bytes, not the slices between them.
    """
    units: list[tuple[int, int, int]] = []
    pos = 0
    while pos + length_size <= sample_size:
        head = read(pos, length_size + 1)
        size = int.from_bytes(head[:length_size], "big")
        if size == 0 or pos + length_size + size > sample_size:
            raise AvcError("malformed NAL length")
        units.append((pos, pos + length_size + size, head[length_size]))
        pos += length_size + size
    return units


def nal_headers(sample: bytes, length_size: int) -> list[int]:
    """The header byte (ref idc, type) of every NAL unit in a length-prefixed sample."""
    units = nal_units(lambda at, size: sample[at : at + size], len(sample), length_size)
    return [header for _, _, header in units]


def in_band_parameter_sets(
    read: ReadWithin, sample_size: int, config: AvcConfig
) -> list[tuple[int, int]]:
    """Where a sample repeats a parameter set of ``config``: (start, end) of each.

    Some encoders (GStreamer's x264enc, cameras) repeat the SPS and PPS in
    every keyframe. Firefox then takes them as the stream's whole
    configuration, so a clip that also holds another encoder's sets must not
    carry them; the ``avcC`` already does. Raises AvcError for a set the
    ``avcC`` does not hold (a stream whose configuration changes midway).
    """
    size = config.length_size
    found = []
    for start, end, header in nal_units(read, sample_size, size):
        kind = header & 0x1F
        if kind in (NAL_SPS, NAL_PPS):
            nal = read(start + size, end - start - size)
            if nal not in (config.sps if kind == NAL_SPS else config.pps):
                raise AvcError("an in-band parameter set differs from the avcC")
            found.append((start, end))
    return found


def nal_types(sample: bytes, length_size: int) -> list[int]:
    """The nal_unit_type of every NAL unit in a length-prefixed sample."""
    return [header & 0x1F for header in nal_headers(sample, length_size)]


def is_idr(sample: bytes, length_size: int) -> bool:
    """True when the sample's picture is an IDR: a decoder can start there with nothing before."""
    return NAL_IDR in nal_types(sample, length_size)


def is_reference(sample: bytes, length_size: int) -> bool:
    """True unless every slice of the sample has nal_ref_idc 0 (no other picture uses it)."""
    slices = [h for h in nal_headers(sample, length_size) if h & 0x1F in (NAL_NON_IDR, NAL_IDR)]
    return not slices or any(h & 0x60 for h in slices)
