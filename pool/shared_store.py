"""The pool's side of the shared clip store: async calls, counters, write-through tasks.

The store is an optimisation, never a dependency: a store that cannot be
read counts as a miss (the clip is cut), and one that cannot be written
leaves the clip in the local cache only. Both are logged and counted. Store
calls block (file copies, boto3), so they run in threads; a thread that has
started is waited for even when its caller is cancelled, so it never writes
into a temp file that was already discarded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pool.cache import ClipCache
from pool.store import ClipStore, StoreError
from pool.uncancellable import await_uncancellable

log = logging.getLogger(__name__)

T = TypeVar("T")


class SharedStore:
    """A :class:`~pool.store.ClipStore` seen from one pool, with its local cache for temps.

    Counters (plain ints, for metrics): ``hits``, ``misses``, ``errors``,
    ``bytes_read``, ``bytes_written``.
    """

    def __init__(self, store: ClipStore, cache: ClipCache) -> None:
        self.backend = store
        self._cache = cache
        self._writes: dict[str, asyncio.Task[None]] = {}
        self.hits = 0
        self.misses = 0
        self.errors = 0
        self.bytes_read = 0
        self.bytes_written = 0

    @property
    def uri(self) -> str:
        """Where the store is."""
        return self.backend.uri

    async def fetch(self, key: str) -> Path | None:
        """A new cache temp file holding the stored clip ``key``, or None (a miss)."""
        temp = self._cache.new_temp(key)
        try:
            found = await _in_thread(self.backend.fetch, key, temp)
            size = temp.stat().st_size if found else 0
        except StoreError as exc:
            self._failed("read", exc)
            found = False
        except BaseException:
            self._cache.discard(temp)
            raise
        if not found:
            self.misses += 1
            self._cache.discard(temp)
            return None
        self.hits += 1
        self.bytes_read += size
        return temp

    async def contains(self, key: str) -> bool:
        """True if ``key`` is stored; False also when the store cannot be asked."""
        try:
            return await _in_thread(self.backend.contains, key)
        except StoreError as exc:
            self._failed("check", exc)
            return False

    def write_through(
        self, key: str, path: Path, *, then: Callable[[], None] | None = None
    ) -> None:
        """Start copying a freshly committed clip to the store; the caller does not wait.

        ``then`` runs once the write has ended, however it ended.
        """
        task = self._writes.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._write(key, path))
            self._writes[key] = task
            task.add_done_callback(lambda _task: self._writes.pop(key, None))
        if then is not None:
            task.add_done_callback(lambda _task: then())

    async def written(self, key: str, path: Path) -> None:
        """Wait until ``key`` is in the store (writing ``path`` if no write is under way).

        Raises StoreError if it could not be written.
        """
        pending = self._writes.get(key)
        if pending is not None:
            await asyncio.shield(pending)
        if not await _in_thread(self.backend.contains, key):
            await self._put(key, path)

    async def finish_writes(self) -> None:
        """Wait for the writes under way (shutdown)."""
        await asyncio.gather(*self._writes.values(), return_exceptions=True)

    async def _write(self, key: str, path: Path) -> None:
        try:
            await self._put(key, path)
        except StoreError as exc:
            self._failed("write", exc)

    async def _put(self, key: str, path: Path) -> None:
        self.bytes_written += await _in_thread(self._put_file, key, path)

    def _put_file(self, key: str, path: Path) -> int:
        try:
            size = path.stat().st_size
        except OSError as exc:  # evicted from the local cache before it was written
            raise StoreError(f"cannot write {key}: {exc.strerror}") from exc
        self.backend.put(key, path)
        return size

    def _failed(self, what: str, exc: StoreError) -> None:
        self.errors += 1
        log.warning("clip store %s failed: %s", what, exc)


async def _in_thread(function: Callable[..., T], *args: object) -> T:
    return await await_uncancellable(asyncio.ensure_future(asyncio.to_thread(function, *args)))
