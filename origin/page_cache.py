"""Reading a clip from the kernel's page cache without a thread hop.

Starlette's ``FileResponse`` reads through anyio's file wrapper: the open, the
seek, every read and the close are each a round trip to a worker thread, and
with both cores encoding each round trip waits for a CPU twice (measured: a
64 KiB warm Range answer, five hops, had 5.5x its idle p99; docs/benchmarks.md).
A clip that was just cut or served is in the page cache: ``preadv2`` with
``RWF_NOWAIT`` (Linux 4.14) copies it out without blocking, or fails with
EAGAIN when it would have to wait for the disk. Only then does a read go to a
thread, as before.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import anyio.to_thread


class PageCacheFile:
    """The part of ``anyio.AsyncFile`` that ``FileResponse`` uses: ``read``, ``seek``, ``aclose``.

    Opening and closing a local file do not wait for its data, so they run
    in the event loop.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._size = os.fstat(self._fd).st_size  # a clip file never changes once written
        self._position = 0
        self._nowait = hasattr(os, "RWF_NOWAIT")

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes from the position: fewer only at the end of the file."""
        wanted = max(0, min(size, self._size - self._position))
        cached = self._read_cached(wanted)
        # What the page cache did not have (all of it, or the rest) is read in a thread.
        rest = b""
        if len(cached) < wanted:
            rest = await anyio.to_thread.run_sync(self._read_all, wanted - len(cached), len(cached))
        self._position += len(cached) + len(rest)
        return cached + rest

    async def seek(self, position: int) -> int:
        """Move to ``position`` (from the start)."""
        self._position = position
        return position

    async def aclose(self) -> None:
        """Close the file."""
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _read_cached(self, size: int) -> bytes:
        """What the page cache holds of the next ``size`` bytes (a prefix of them, maybe
        empty), without waiting for the disk."""
        if not self._nowait or size <= 0:
            return b""
        buffer = bytearray(size)
        try:
            got = os.preadv(self._fd, [buffer], self._position, os.RWF_NOWAIT)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno != errno.EOPNOTSUPP:
                raise
            self._nowait = False  # a filesystem that cannot tell: threads from now on
            return b""
        del buffer[got:]
        return bytes(buffer)

    def _read_all(self, size: int, skip: int) -> bytes:
        """``size`` bytes from ``skip`` past the position (fewer at the end); blocking."""
        parts: list[bytes] = []
        at, left = self._position + skip, size
        while left > 0:
            part = os.pread(self._fd, left, at)
            if not part:
                break
            parts.append(part)
            at += len(part)
            left -= len(part)
        return b"".join(parts)
