"""A track's samples as compact columns of integers, and searches for its sync samples.

About 26 bytes per sample (see :class:`Samples`); a :class:`Sample` object is
made only for a sample asked for. :mod:`pool.mp4.index` fills the columns
from a track's sample tables.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from operator import le
from typing import overload

from pool.mp4.boxes import Mp4Error
from pool.mp4.sample_tables import ChunkMap

for _code, _size in (("I", 4), ("i", 4), ("q", 8)):
    if array(_code).itemsize != _size:  # pragma: no cover - every supported platform
        raise ImportError(f"array typecode {_code!r} is not {_size} bytes here")


@dataclass(frozen=True)
class Sample:
    """One sample (an access unit): where its bytes are and when it decodes and shows."""

    offset: int
    size: int
    dts: int  # decode time, moved by the edit list like pts (so pts - dts is the stored offset)
    pts: int
    duration: int
    sync: bool


class Samples(Sequence[Sample]):
    """A track's samples in decode order, as columns of integers (no object per sample).

    ``sizes``, ``pts`` (presentation times, ticks) and ``sync`` (one byte, 1
    for a sync sample) have one entry per sample; ``composition`` holds each
    sample's ``pts - dts`` (None when all are 0), so a decode time is
    ``pts - composition`` and a duration the difference of two decode times
    (``last_duration`` for the last sample); offsets come from ``chunks``.
    Indexing makes a :class:`Sample` for that one sample; a slice, a list.
    """

    __slots__ = ("_ascending", "chunks", "composition", "last_duration", "pts", "sizes", "sync")

    def __init__(
        self,
        sizes: array[int],
        pts: array[int],
        composition: array[int] | None,
        sync: bytearray,
        last_duration: int,
        chunks: ChunkMap,
    ) -> None:
        n = len(sizes)
        if len(pts) != n or len(sync) != n or (composition is not None and len(composition) != n):
            raise Mp4Error("sample columns of different lengths")
        self.sizes = sizes
        self.pts = pts
        self.composition = composition
        self.sync = sync
        self.last_duration = last_duration
        self.chunks = chunks
        self._ascending: bool | None = None

    def __len__(self) -> int:
        return len(self.sizes)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        if isinstance(index, slice):
            return [self._one(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("sample index out of range")
        return self._one(index)

    def __iter__(self) -> Iterator[Sample]:
        return (self._one(i) for i in range(len(self)))

    def dts(self, index: int) -> int:
        """Sample ``index``'s decode time (``index == len(self)``: the end of the last)."""
        if index == len(self):
            return self.dts(index - 1) + self.last_duration
        return int(self.pts[index]) - (0 if self.composition is None else self.composition[index])

    def duration(self, index: int) -> int:
        """Sample ``index``'s duration (decode time to the next sample's)."""
        return self.dts(index + 1) - self.dts(index)

    def ascending(self) -> bool:
        """Whether presentation times never decrease (audio, video without B-frames)."""
        if self._ascending is None:
            self._ascending = all(map(le, self.pts, islice(self.pts, 1, None)))
        return self._ascending

    def offset(self, index: int) -> int:
        """Sample ``index``'s position in the file."""
        return self.chunks.offset(index, self.sizes)

    def _one(self, i: int) -> Sample:
        dts = self.dts(i)
        return Sample(
            offset=self.offset(i),
            size=self.sizes[i],
            dts=dts,
            pts=self.pts[i],
            duration=self.dts(i + 1) - dts,
            sync=bool(self.sync[i]),
        )

    def nbytes(self) -> int:
        """The bytes the columns hold (what the index cache counts)."""
        columns = [self.sizes, self.pts, *self.chunks.arrays()]
        if self.composition is not None:
            columns.append(self.composition)
        return sum(len(c) * c.itemsize for c in columns) + len(self.sync)


def pts_column(samples: Sequence[Sample]) -> Sequence[int]:
    """Every sample's presentation time, without making objects for a :class:`Samples`."""
    return samples.pts if isinstance(samples, Samples) else [s.pts for s in samples]


def sync_column(samples: Sequence[Sample]) -> bytearray:
    """One byte per sample, 1 for a sync sample (see :func:`sync_before`)."""
    return samples.sync if isinstance(samples, Samples) else bytearray(s.sync for s in samples)


def sync_before(sync: bytearray, stop: int) -> Iterator[int]:
    """Indices of the sync samples before ``stop``, latest first."""
    i = sync.rfind(1, 0, max(stop, 0))
    while i >= 0:
        yield i
        i = sync.rfind(1, 0, i)


def sync_from(sync: bytearray, start: int) -> Iterator[int]:
    """Indices of the sync samples from ``start`` on, in order."""
    i = sync.find(1, max(start, 0))
    while i >= 0:
        yield i
        i = sync.find(1, i + 1)
