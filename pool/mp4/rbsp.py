"""H.264 raw byte sequence payloads: emulation prevention, and reading and writing them bit by bit.

A NAL unit's payload is its RBSP with a 0x03 byte inserted after every two
zero bytes that a byte 0x00..0x03 follows (H.264 7.4.1), so that no start
code appears inside it. Parsing works on the RBSP; writing one back
re-inserts those bytes.
"""

from __future__ import annotations

import re

_EMULATION = re.compile(b"\x00\x00(?=[\x00-\x03])")


class BitstreamError(ValueError):
    """A bitstream this module cannot read (ends early, or a code out of range)."""


def unescape(payload: bytes) -> bytes:
    """The RBSP of a NAL unit payload (the bytes after its header byte)."""
    # Escapes never overlap (each ends with its 0x03), so one left-to-right replace finds all.
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


def escape(rbsp: bytes) -> bytes:
    """A NAL unit payload carrying ``rbsp``: emulation prevention bytes inserted."""
    out = _EMULATION.sub(b"\x00\x00\x03", rbsp)
    # A payload may not end in 0x00 (only cabac_zero_words do): 7.4.1 appends 0x03.
    return out + b"\x03" if out.endswith(b"\x00") else out


class BitReader:
    """Reads an RBSP MSB first: fixed-width fields and exp-Golomb codes (H.264 9.1)."""

    def __init__(self, rbsp: bytes, pos: int = 0) -> None:
        self.data = rbsp
        self.pos = pos  # in bits

    def bit(self) -> int:
        """One bit."""
        byte = self.pos >> 3
        if byte >= len(self.data):
            raise BitstreamError("the RBSP ends early")
        value = (self.data[byte] >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, n: int) -> int:
        """An ``n``-bit unsigned field."""
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        """An unsigned exp-Golomb code."""
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise BitstreamError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        """A signed exp-Golomb code."""
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)

    def more_rbsp_data(self) -> bool:
        """Whether anything but the rbsp_stop_one_bit and its zeros is left (7.2)."""
        return self.pos < stop_bit(self.data)


def stop_bit(rbsp: bytes) -> int:
    """The bit position of the rbsp_stop_one_bit: the last 1 bit of the RBSP."""
    trimmed = rbsp.rstrip(b"\x00")
    if not trimmed:
        raise BitstreamError("an RBSP without its stop bit")
    last = trimmed[-1]
    return len(trimmed) * 8 - 1 - ((last & -last).bit_length() - 1)


class BitWriter:
    """Builds an RBSP MSB first (the inverse of :class:`BitReader`)."""

    def __init__(self) -> None:
        self._value = 0
        self.length = 0  # in bits

    def bits(self, n: int, value: int) -> None:
        """An ``n``-bit unsigned field."""
        if value < 0 or value >> n:
            raise BitstreamError(f"{value} does not fit in {n} bits")
        self._value = (self._value << n) | value
        self.length += n

    def ue(self, value: int) -> None:
        """An unsigned exp-Golomb code."""
        code = value + 1
        self.bits(2 * code.bit_length() - 1, code)

    def se(self, value: int) -> None:
        """A signed exp-Golomb code."""
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def copy(self, reader: BitReader, end: int) -> None:
        """The bits of ``reader`` from its position to ``end``, as they are."""
        count = end - reader.pos
        self.bits(count, _bit_slice(reader.data, reader.pos, end))
        reader.pos = end

    def aligned(self, fill: int) -> bool:
        """Pad with ``fill`` bits to a byte boundary; whether it was aligned already."""
        pad = -self.length % 8
        self.bits(pad, (1 << pad) - 1 if fill else 0)
        return pad == 0

    def to_bytes(self) -> bytes:
        """The bits written so far (a whole number of bytes)."""
        if self.length % 8:
            raise BitstreamError("not byte-aligned")
        return self._value.to_bytes(self.length // 8, "big")


def _bit_slice(data: bytes, start: int, end: int) -> int:
    """Bits [start, end) of ``data`` as an integer."""
    if end > len(data) * 8 or start > end:
        raise BitstreamError("the RBSP ends early")
    first, last = start >> 3, (end + 7) >> 3
    chunk = int.from_bytes(data[first:last], "big")
    return (chunk >> (last * 8 - end)) & ((1 << (end - start)) - 1)
