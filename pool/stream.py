"""Pipe-mode plumbing: one run's chunks to its reader, and into the cache.

:class:`ClipStream` is what :meth:`ClipPool.stream` returns; :class:`Channel`
carries chunks from the run to that reader with back-pressure; :class:`Tee`
copies them into a cache temp file.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from pool.cache import ClipCache
from pool.coalesce import Flight
from pool.errors import PoolClosed
from pool.process import CHUNK_BYTES
from pool.request import ClipRequest

log = logging.getLogger(__name__)


class Tee:
    """Copies a stream into a cache temp file; failing to write only turns caching off.

    A stream must not break because the cache disk is full: the reader still
    gets every byte, the clip just is not cached.
    """

    def __init__(self, cache: ClipCache, key: str | None) -> None:
        self._cache = cache
        self._temp: Path | None = None
        self._out: IO[bytes] | None = None
        if key is not None:
            try:
                self._temp = cache.new_temp(key)
                self._out = self._temp.open("wb")
            except OSError:
                log.warning("cannot cache streamed clip %s", key, exc_info=True)
                self.discard()

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the temp file, unless caching is off."""
        if self._out is None:
            return
        try:
            self._out.write(chunk)
        except OSError:
            log.warning("stopped caching %s", self._temp, exc_info=True)
            self.discard()

    def finish(self) -> Path | None:
        """Close the temp file and return it, or None if caching was off or failed."""
        if self._out is not None:
            try:
                self._out.close()
            except OSError:
                log.warning("stopped caching %s", self._temp, exc_info=True)
                self.discard()
        self._out = None
        return self._temp

    def discard(self) -> None:
        """Close and delete the temp file; caching is off from now on."""
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None
        if self._temp is not None:
            self._cache.discard(self._temp)
            self._temp = None


class Channel:
    """Chunks from one run to one reader, with bounded buffering (back-pressure).

    The reader may :meth:`detach`; from then on :meth:`put` drops chunks and
    never blocks, so the run can go on (for others) or be stopped.
    """

    def __init__(self, max_buffered: int) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._max = max_buffered
        self._attached = True
        self._closed = False
        self._error: BaseException | None = None
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()

    async def put(self, chunk: bytes) -> None:
        """Queue a chunk for the reader; waits while the buffer is full."""
        while self._attached and self._buffered >= self._max:
            self._writable.clear()
            await self._writable.wait()
        if self._attached:
            self._chunks.append(chunk)
            self._buffered += len(chunk)
            self._readable.set()

    def close(self, error: BaseException | None = None) -> None:
        """No more chunks: the reader gets the rest, then the end or ``error``; first call wins."""
        if not self._closed:
            self._closed = True
            self._error = error
            self._readable.set()

    def close_from(self, task: asyncio.Task[Path | None]) -> None:
        """Done-callback: close with whatever ended the run's task."""
        if task.cancelled():
            self.close(PoolClosed())
        else:
            self.close(task.exception())

    async def get(self) -> bytes | None:
        """The next chunk, None at a clean end; raises the run's error."""
        while not self._chunks:
            if self._closed:
                if self._error is not None:
                    raise self._error
                return None
            self._readable.clear()
            await self._readable.wait()
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        self._writable.set()
        return chunk

    def detach(self) -> None:
        """The reader is gone: drop what is buffered and never block the writer again."""
        self._attached = False
        self._chunks.clear()
        self._buffered = 0
        self._writable.set()


class ClipStream:
    """The bytes of one clip, as an async iterator; also an async context manager.

    Served from the finished cached file when there is one (``path`` and
    ``size`` are then set, and a response could use the file directly);
    otherwise chunks arrive as ffmpeg cuts them (``path`` is None, no length
    is known). Errors after the first chunk are raised from iteration: the
    response must then be aborted, not ended cleanly, or a truncated clip
    looks complete. Closing is synchronous underneath; it is safe to call
    from any ``finally``, any number of times.

    In a response (uvicorn cancels the task sending the body, usually inside
    ``send()``, outside this iterator, and never calls ``aclose()`` on it)::

        stream = pool.stream(request)
        await stream.open()  # Saturated & co. can still become a status code

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in stream:
                    yield chunk
            finally:
                stream.close()  # kills a run nobody else waits for

    A stream dropped without closing is closed when garbage-collected.
    """

    def __init__(
        self, request: ClipRequest, opener: Callable[[ClipStream], Awaitable[None]]
    ) -> None:
        self.request = request
        self._opener = opener
        self._opened = False
        self._closed = False
        self._file: IO[bytes] | None = None
        self._flight: Flight[Path | None] | None = None
        self._channel: Channel | None = None
        self._pending: bytes | None = None
        self.path: Path | None = None
        self.size: int | None = None

    async def open(self) -> None:
        """Find the clip or start cutting it, and wait for its first bytes.

        Raises Saturated, SourceUnavailable, RunFailed/RunTimeout or
        PoolClosed; after a successful open, iteration cannot raise Saturated.
        """
        if self._opened:
            return
        self._opened = True
        try:
            await self._opener(self)
        except BaseException:
            self.close()
            raise

    async def attach_run(self, flight: Flight[Path | None], channel: Channel) -> None:
        """Read from a run this stream holds an interest in, starting with its first chunk."""
        self._flight, self._channel = flight, channel
        # Waiting for the first chunk turns a source that will not open into
        # an error before any response has started.
        self._pending = await channel.get()

    def attach_file(self, path: Path) -> bool:
        """Read the finished file at ``path``; False if it was evicted in between."""
        try:
            self._file = path.open("rb")
        except FileNotFoundError:
            return False
        self.path = path
        self.size = os.fstat(self._file.fileno()).st_size
        return True

    def __aiter__(self) -> ClipStream:
        return self

    async def __anext__(self) -> bytes:
        if not self._opened:
            await self.open()
        if self._closed:
            raise StopAsyncIteration
        try:
            chunk = await self._next_chunk()
        except BaseException:
            self.close()
            raise
        if not chunk:
            self.close()
            raise StopAsyncIteration
        return chunk

    async def _next_chunk(self) -> bytes:
        if self._file is not None:
            return await asyncio.to_thread(self._file.read, CHUNK_BYTES)
        if self._pending is not None:
            chunk, self._pending = self._pending, None
            return chunk
        assert self._channel is not None
        return await self._channel.get() or b""

    def close(self) -> None:
        """Stop reading. A run only this stream was interested in is killed (in the background)."""
        if self._closed:
            return
        self._closed = True
        self._opened = True  # a closed stream never opens
        if self._file is not None:
            self._file.close()
        if self._channel is not None:
            self._channel.detach()
        if self._flight is not None:
            self._flight.release()
        self._pending = None

    async def aclose(self) -> None:
        """Same as :meth:`close`; async for the async-iterator protocol."""
        self.close()

    def __del__(self) -> None:
        # Safety net for a stream dropped without closing (a plain ``break``
        # out of ``async for``): otherwise its run would wait on a reader that
        # never comes until the run timeout. close() never awaits.
        if not self._closed:
            with contextlib.suppress(Exception):  # e.g. the loop is already closed
                self.close()

    async def __aenter__(self) -> ClipStream:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
