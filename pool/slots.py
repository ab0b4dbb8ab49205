"""A bounded number of ffmpeg slots with a first-come, first-served queue wait.

A slot stands for one live ffmpeg process: hold it around the whole life of
the process, reaping included. When none is free within the queue timeout the
caller gets :class:`~pool.errors.Saturated` (the origin's 429, its
back-pressure); a timeout of 0 fails at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

from pool.errors import Saturated


class Slots:
    """At most ``max_processes`` holders at a time; FIFO hand-over to waiters."""

    def __init__(
        self, max_processes: int, queue_timeout_s: float, *, retry_after_s: float = 1.0
    ) -> None:
        if max_processes < 1:
            raise ValueError("max_processes must be at least 1")
        if queue_timeout_s < 0:
            raise ValueError("queue_timeout_s must not be negative")
        self._max = max_processes
        self._queue_timeout_s = queue_timeout_s
        # A hint for clients, not a promise: one typical clip cut takes well under it.
        self._retry_after_s = retry_after_s
        self._active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def max(self) -> int:
        """The number of slots."""
        return self._max

    @property
    def active(self) -> int:
        """Slots held now."""
        return self._active

    @property
    def waiting(self) -> int:
        """Callers queued for a slot now."""
        return sum(1 for w in self._waiters if not w.done())

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[None]:
        """Hold one slot for the block, or raise Saturated if none frees up in time."""
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        if self._active < self._max and not self.waiting:
            self._active += 1
            return
        if self._queue_timeout_s == 0:
            raise Saturated(self._retry_after_s, detail=f"all {self._max} slots busy")
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(granted)
        try:
            async with asyncio.timeout(self._queue_timeout_s):
                await granted
        except TimeoutError:
            if granted.done() and not granted.cancelled():
                return  # handed a slot in the same step as the timeout: keep it
            raise Saturated(
                self._retry_after_s,
                detail=f"no slot of {self._max} within {self._queue_timeout_s:g} s",
            ) from None
        except BaseException:
            # Cancelled after _release handed us the slot: pass it on, or it leaks.
            if granted.done() and not granted.cancelled():
                self._release()
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(granted)

    def _release(self) -> None:
        # Hand the slot straight to the oldest live waiter (active stays the
        # same), so a newcomer cannot overtake the queue.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._active -= 1
