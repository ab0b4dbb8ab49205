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

from pool.mp4.h264_params import SpsFormat, parse_sps
from pool.mp4.rbsp import BitReader, BitstreamError, unescape

NAL_IDR = 5
NAL_NON_IDR = 1
NAL_SPS = 7
NAL_PPS = 8

#: profile_idc → the x264 profile that produces it (8-bit 4:2:0 only).
X264_PROFILES = {66: "baseline", 77: "main", 100: "high"}


#: An H.264 structure this module cannot use (a bitstream that ends early is one).
AvcError = BitstreamError


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


def sps_id(sps: bytes) -> int:
    """seq_parameter_set_id of an SPS NAL unit."""
    bits = BitReader(unescape(sps[1:]))
    bits.bits(24)  # profile_idc, constraint flags, level_idc
    return bits.ue()


def pps_ids(pps: bytes) -> tuple[int, int]:
    """(pic_parameter_set_id, seq_parameter_set_id) of a PPS NAL unit."""
    bits = BitReader(unescape(pps[1:]))
    return bits.ue(), bits.ue()


def sps_format(sps: bytes) -> SpsFormat:
    """Profile, level, chroma format, bit depth and display fields of an SPS NAL unit."""
    return parse_sps(sps).format


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
) -> list[tuple[int, int, bytes]]:
    """Where a sample repeats a parameter set of ``config``: (start, end, b"") of each,
    a :class:`~pool.mp4.writer.SampleRef` patch that leaves it out.

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
            found.append((start, end, b""))
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
