"""The few H.264 facts the smart cut needs: avcC records, parameter-set ids, IDR samples.

An MP4 ``avc1`` sample carries NAL units prefixed with their length; its
decoder configuration (``avcC``) carries the SPS and PPS. A smart-cut clip
holds two encoders' output, each with its own parameter sets: they get
distinct ids and both go into one ``avcC``, so a decoder has every set from
the start and each slice finds its own.
"""

from __future__ import annotations

import struct
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
    """What an SPS says about the picture format."""

    profile: int
    level: int
    chroma_format: int  # 1 = 4:2:0
    bit_depth: int


def sps_format(sps: bytes) -> SpsFormat:
    """Profile, level, chroma format and luma bit depth of an SPS NAL unit."""
    bits = _Bits(sps)
    profile = bits.bits(8)
    bits.bits(8)
    level = bits.bits(8)
    bits.ue()
    chroma, depth = 1, 8
    if profile in _HIGH_PROFILES:
        chroma = bits.ue()
        if chroma == 3:
            bits.bit()
        depth = bits.ue() + 8
    return SpsFormat(profile=profile, level=level, chroma_format=chroma, bit_depth=depth)


def nal_types(sample: bytes, length_size: int) -> list[int]:
    """The nal_unit_type of every NAL unit in a length-prefixed sample."""
    types: list[int] = []
    pos = 0
    while pos + length_size <= len(sample):
        size = int.from_bytes(sample[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(sample):
            raise AvcError("malformed NAL length")
        types.append(sample[pos] & 0x1F)
        pos += size
    return types


def is_idr(sample: bytes, length_size: int) -> bool:
    """True when the sample's picture is an IDR: a decoder can start there with nothing before."""
    return NAL_IDR in nal_types(sample, length_size)
