"""An MP4's sample tables (stsz, stco/co64, stsc, stts, ctts, stss) as integer columns.

Each table is unpacked in bulk (``array.frombytes`` and one byte swap) rather
than one ``struct`` call per entry; run-length tables (stts, ctts) are expanded
with ``repeat``/``chain``. :mod:`pool.mp4.index` builds a track's
:class:`~pool.mp4.samples.Samples` from these.
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate, chain, repeat
from operator import mul, sub

from pool.mp4.boxes import Box, Mp4Error, parse_boxes


@dataclass(frozen=True)
class ChunkMap:
    """Where samples are: the MP4's own chunk offsets and sample-to-chunk runs.

    Kept as stored (run ``r`` starts at sample ``first_sample[r]`` and chunk
    ``first_chunk[r]``, ``per_chunk[r]`` samples a chunk) rather than expanded
    to one offset per sample: a sample's offset is its chunk's plus the sizes
    of the samples before it in that chunk, found when asked.
    """

    chunk_offsets: array[int]
    first_sample: array[int]
    first_chunk: array[int]
    per_chunk: array[int]

    def offset(self, index: int, sizes: array[int]) -> int:
        run = bisect_right(self.first_sample, index) - 1
        into, spc = index - self.first_sample[run], self.per_chunk[run]
        chunk_first = index - into % spc
        return int(self.chunk_offsets[self.first_chunk[run] + into // spc]) + sum(
            sizes[chunk_first:index]
        )

    def data_end(self, sizes: array[int]) -> int:
        """Where the samples' bytes end in the file: the end of the chunk stored last."""
        if not self.chunk_offsets or not sizes:
            return 0
        last = max(range(len(self.chunk_offsets)), key=self.chunk_offsets.__getitem__)
        run = bisect_right(self.first_chunk, last) - 1
        first = self.first_sample[run] + (last - self.first_chunk[run]) * self.per_chunk[run]
        stop = min(first + self.per_chunk[run], len(sizes))
        return int(self.chunk_offsets[last]) + sum(sizes[first:stop])

    def arrays(self) -> tuple[array[int], ...]:
        return (self.chunk_offsets, self.first_sample, self.first_chunk, self.per_chunk)


def be_integers(typecode: str, payload: bytes, at: int, count: int) -> array[int]:
    """``count`` big-endian integers of ``typecode``'s size from ``payload[at:]``, in bulk."""
    values = array(typecode)
    end = at + count * values.itemsize
    if count < 0 or end > len(payload):
        raise Mp4Error("sample table shorter than its entry count")
    values.frombytes(payload[at:end])
    if sys.byteorder == "little":
        values.byteswap()
    return values


def u32s(payload: bytes, at: int, count: int) -> array[int]:
    """``count`` big-endian unsigned 32-bit integers from ``payload[at:]``."""
    return be_integers("I", payload, at, count)


def entry_count(box: Box) -> int:
    """A full box's entry count (after its version and flags)."""
    if len(box.payload) < 8:
        raise Mp4Error(f"{box.type.decode('latin-1')} box too short")
    return int(struct.unpack_from(">I", box.payload, 4)[0])


def sample_entries(stsd: Box) -> list[Box]:
    """The sample descriptions of an stsd box (codec boxes such as avc1 or mp4a)."""
    # stsd is a full box (4 bytes) with an entry count (4) before its entries.
    return [Box(b.type, b.payload) for b in parse_boxes(stsd.payload[8:])]


def expanded(typecode: str, counts: array[int], values: array[int]) -> array[int]:
    """Run-length rows ``(count, value)`` as one value per item, in bulk."""
    if counts.count(1) == len(counts):
        return array(typecode, values)
    if len(counts) * 16 > sum(counts):  # short runs: one pass at C speed
        return array(typecode, chain.from_iterable(map(repeat, values, counts)))
    out = array(typecode)
    for count, value in zip(counts, values, strict=True):
        out += array(typecode, [value]) * count
    return out


def runs(box: Box, signed: bool) -> tuple[array[int], array[int]]:
    """An stts/ctts run table as (counts, values)."""
    pairs = be_integers("i" if signed else "I", box.payload, 8, 2 * entry_count(box))
    return array("I", pairs[0::2]) if signed else pairs[0::2], pairs[1::2]


def sample_sizes(stbl: Box) -> array[int]:
    """Every sample's size in bytes, from stsz."""
    stsz = stbl.find(b"stsz")
    if stsz is None:
        raise Mp4Error("no stsz box (compact sample sizes are not supported)")
    uniform, count = struct.unpack_from(">II", stsz.payload, 4)
    if uniform:
        return array("I", [uniform]) * int(count)
    return u32s(stsz.payload, 12, int(count))


def chunk_offsets(stbl: Box) -> array[int]:
    """Every chunk's file offset, from stco or co64."""
    stco = stbl.find(b"stco")
    if stco is not None:
        return u32s(stco.payload, 8, entry_count(stco))
    co64 = stbl.find(b"co64")
    if co64 is None:
        raise Mp4Error("no chunk offsets")
    return be_integers("q", co64.payload, 8, entry_count(co64))


def chunk_map(stbl: Box, samples: int) -> ChunkMap:
    """The sample-to-chunk runs, checked to place every sample in a chunk there is."""
    chunks = chunk_offsets(stbl)
    stsc = stbl.require(b"stsc")
    entries = u32s(stsc.payload, 8, 3 * entry_count(stsc))
    firsts, per_chunk = entries[0::3], entries[1::3]
    if not firsts:
        if samples:
            raise Mp4Error("sample-to-chunk table does not cover every sample")
        return ChunkMap(chunks, array("q"), array("q"), array("I"))
    if firsts[0] < 1 or firsts[-1] > len(chunks) + 1:
        raise Mp4Error("sample-to-chunk table outside the chunks")
    # Chunks in each run: up to the next run's first chunk, the last run to the end.
    chunk_runs = array("q", map(sub, firsts[1:], firsts[:-1]))
    chunk_runs.append(len(chunks) + 1 - firsts[-1])
    if min(chunk_runs) < 0:
        raise Mp4Error("sample-to-chunk runs out of order")
    first_sample = array("q", accumulate(map(mul, chunk_runs, per_chunk), initial=0))
    if first_sample.pop() < samples:
        raise Mp4Error("sample-to-chunk table does not cover every sample")
    if min(per_chunk) == 0:  # runs of empty chunks hold no sample: drop them
        keep = [r for r, spc in enumerate(per_chunk) if spc]
        first_sample = array("q", (first_sample[r] for r in keep))
        firsts = array("I", (firsts[r] for r in keep))
        per_chunk = array("I", (per_chunk[r] for r in keep))
    return ChunkMap(chunks, first_sample, array("q", (f - 1 for f in firsts)), per_chunk)


SAMPLE_TABLES = {b"stts", b"ctts", b"stss", b"stsz", b"stz2", b"stsc", b"stco", b"co64", b"sdtp"}


def without_sample_tables(box: Box) -> Box:
    """A copy of a ``trak`` tree without the per-sample tables (the index holds them now)."""
    if not box.is_container:
        return box
    kept = [c for c in box.children if c.type not in SAMPLE_TABLES]
    return Box(box.type, box.payload, [without_sample_tables(c) for c in kept])
