"""Frame times of recent sources, for ``/api/sources/{id}/frames`` and the clips' frame counts.

Reading an index is cheap but not free (a long source's ``moov`` takes tens
of milliseconds to parse, a remote one a few range requests), and the review
page asks for the same source's times on every load and every clip listing:
the last few sources' lists are kept, keyed by source id and identity (the
identity changes with the bytes). Concurrent requests for one source share
one read, which runs in a thread.
"""

from __future__ import annotations

import asyncio
import json
import time
from array import array
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

import structlog

from db.records import SourceRecord
from pool.errors import SourceUnavailable
from pool.sources.frames import MICROS_PER_SECOND, FramesUnsupported, read_frame_micros
from pool.sources.locations import SourceError, SourceResolver

log = structlog.get_logger("origin")

#: Sources whose frame times are kept (a 2-hour 60 fps source takes about 8 MB).
CACHED_SOURCES = 8


def to_micros(t: Decimal) -> int:
    """A stored time (``numeric(14, 6)``) as integer microseconds, exactly."""
    return int(t.scaleb(6))


@dataclass(frozen=True)
class FrameTimes:
    """One source's frame times and the JSON answer that lists them."""

    micros: array[int]  # floored presentation starts, ascending (pool/sources/frames.py)
    body: bytes  # {"times": [seconds, ...]}

    def count(self, start: Decimal, end: Decimal) -> int:
        """How many frames start in ``[start, end)``: what a clip of that range shows."""
        return self.count_micros(to_micros(start), to_micros(end))

    def count_micros(self, start: int, end: int) -> int:
        """:meth:`count` for times in microseconds."""
        return bisect_left(self.micros, end) - bisect_left(self.micros, start)


def _render(micros: array[int]) -> bytes:
    # m / 1e6 is the double nearest the 6-decimal time, and JSON writes the
    # shortest text that reads back as it: "0.066666", never "0.0666660000001".
    times = [m / MICROS_PER_SECOND for m in micros]
    return json.dumps({"times": times}, separators=(",", ":")).encode()


def _read(uri: str, identity: str, resolver: SourceResolver) -> FrameTimes:
    """Blocking: the source's frame times, if its bytes are still the registered ones."""
    try:
        location = resolver.open(uri)
        # A local file that changed since registration would list another
        # file's frames; a remote read checks this with If-Match instead.
        location.check_identity(identity)
    except SourceError as exc:
        raise SourceUnavailable(detail=str(exc)) from None
    micros = read_frame_micros(location.ffmpeg_input(), identity)
    return FrameTimes(micros, _render(micros))


_Key = tuple[int, str]


def _retrieve(task: asyncio.Task[FrameTimes]) -> None:
    # Every waiter may have left: mark the failure seen, or asyncio logs it at exit.
    if not task.cancelled():
        task.exception()


class FrameTimesCache:
    """The frame times of the last :data:`CACHED_SOURCES` sources asked for (LRU)."""

    def __init__(self, size: int = CACHED_SOURCES) -> None:
        self._size = size
        # An index this reader cannot read stays unreadable (the identity pins
        # the bytes): kept as its message, so a listing does not parse it again.
        self._done: OrderedDict[_Key, FrameTimes | str] = OrderedDict()
        self._reading: dict[_Key, asyncio.Task[FrameTimes]] = {}

    async def get(
        self, source: SourceRecord, resolver: SourceResolver, *, wait_s: float | None = None
    ) -> FrameTimes:
        """The source's frame times, read now unless kept.

        Raises SourceUnavailable, FramesUnsupported, or TimeoutError after
        ``wait_s``; a read that outlives its waiter still finishes and is kept.
        An unreadable source is not remembered (the next request tries again:
        the file may be back); an unsupported index is.
        """
        key = (source.id, source.identity)
        if key in self._done:
            self._done.move_to_end(key)
            kept = self._done[key]
            if isinstance(kept, str):
                raise FramesUnsupported(kept)
            return kept
        task = self._reading.get(key)
        if task is None:
            task = asyncio.create_task(self._load(key, source.uri, resolver))
            task.add_done_callback(_retrieve)
            self._reading[key] = task
        # Shielded: one waiter leaving (a client gone, a timeout) must not
        # cancel the read the others wait for.
        return await asyncio.wait_for(asyncio.shield(task), wait_s)

    async def _load(self, key: _Key, uri: str, resolver: SourceResolver) -> FrameTimes:
        started = time.perf_counter()
        try:
            frames = await asyncio.to_thread(_read, uri, key[1], resolver)
        except SourceUnavailable as exc:
            log.warning("frame_times_unavailable", source_id=key[0], detail=exc.detail)
            raise
        except FramesUnsupported as exc:
            self._keep(key, str(exc))
            raise
        finally:
            del self._reading[key]
        self._keep(key, frames)
        log.info(
            "frame_times_read", source_id=key[0], frames=len(frames.micros),
            duration_s=round(time.perf_counter() - started, 6),
        )  # fmt: skip
        return frames

    def _keep(self, key: _Key, value: FrameTimes | str) -> None:
        self._done[key] = value
        while len(self._done) > self._size:
            self._done.popitem(last=False)
