"""The on-disk clip cache: ``<key>.mp4`` files, written whole or not at all.

A run writes ``<key>.<random>.tmp``; :meth:`ClipCache.commit` renames it into
place (``os.replace``) only after ffmpeg succeeded, so a reader only ever sees
complete files. There is no fsync, as in nginx's proxy cache: every file can be
cut again, and syncing a freshly written clip costs as much as a third of a
cold request (docs/benchmarks.md). A process crash cannot leave a partial
final file; an operating-system crash can leave a truncated one, which
:meth:`~ClipCache.open` finds by walking each file's top-level MP4 boxes and
deletes (eviction reason ``corrupt``).
Failed runs :meth:`~ClipCache.discard` their temp, and :meth:`~ClipCache.open`
removes every ``*.tmp`` left by a crash. The directory belongs to one
process: :meth:`~ClipCache.open` takes an exclusive lock on it
(:class:`CacheDirectoryBusy` otherwise), since another process's temps
would look like a crash's leftovers.

Eviction, least recently used first:
- idle TTL: files not used for ``idle_ttl_s``;
- size: until the files total at most ``max_bytes``;
- disk floor: until the filesystem has ``min_free_bytes`` free (``has_room()``
  tells the caller whether to fall back to an uncached stream).

"Used" is tracked in memory, updated on every hit (file atimes are unreliable
under ``noatime``/``relatime``); on start-up it is seeded from each file's
mtime. A file used within ``in_use_grace_s`` is never evicted, because the
caller may be about to open the path it was just given (a response opens the
file after the lookup); the limits may be exceeded for that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pool.mp4.boxes import is_complete_mp4

EvictReason = Literal["ttl", "size", "disk", "missing", "corrupt"]

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TEMP_SUFFIX = ".tmp"


def _is_complete_jpeg(path: Path) -> bool:
    if path.stat().st_size < 4:
        return False
    with path.open("rb") as f:
        if f.read(2) != b"\xff\xd8":
            return False
        f.seek(-2, os.SEEK_END)
        return f.read(2) == b"\xff\xd9"


#: A key names its file: ``<key>.mp4``, unless it carries one of these
#: extensions itself. Each kind has a check that a file is whole.
_COMPLETE: dict[str, Callable[[Path], bool]] = {".mp4": is_complete_mp4, ".jpg": _is_complete_jpeg}
_DEFAULT_SUFFIX = ".mp4"


def _file_name(key: str) -> str:
    return key if Path(key).suffix in _COMPLETE else key + _DEFAULT_SUFFIX


def _key_of(name: str) -> str:
    return name.removesuffix(_DEFAULT_SUFFIX)


log = logging.getLogger(__name__)


@dataclass
class _Entry:
    size: int
    last_used: float


class CacheDirectoryBusy(RuntimeError):
    """Another process uses this cache directory; give each process its own."""


def replace_into_place(temp: Path, final: Path) -> int:
    """Rename a finished, non-empty ``temp`` to ``final``; return its size."""
    size = temp.stat().st_size
    if size == 0:
        raise ValueError("refusing to cache an empty file")
    os.replace(temp, final)
    return size


class ClipCache:
    """Clip files on disk with LRU, idle-TTL and free-disk eviction.

    Counters (plain attributes, for metrics): ``hits``, ``misses``,
    ``evictions[reason]``, ``bytes_on_disk``, ``files``. Not thread-safe: use
    it from the event loop's thread (blocking work it does is small: stat,
    unlink, statvfs, rename).
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        idle_ttl_s: float | None = None,
        min_free_bytes: int = 0,
        in_use_grace_s: float = 10.0,
        stale_temp_age_s: float = 3600.0,
        clock: Callable[[], float] = time.time,  # wall clock: compared with file mtimes
        disk_free: Callable[[], int] | None = None,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.idle_ttl_s = idle_ttl_s
        self.min_free_bytes = min_free_bytes
        self.in_use_grace_s = in_use_grace_s
        self.stale_temp_age_s = stale_temp_age_s
        self._clock = clock
        self._disk_free = disk_free or (lambda: shutil.disk_usage(self.directory).free)
        self._entries: dict[str, _Entry] = {}
        self._temps: set[Path] = set()  # in-progress temps of this process
        self._periodic: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        self.hits = 0
        self.misses = 0
        self.evictions: dict[EvictReason, int] = {
            "ttl": 0, "size": 0, "disk": 0, "missing": 0, "corrupt": 0,
        }  # fmt: skip
        self.bytes_on_disk = 0

    @property
    def files(self) -> int:
        """Number of cached clip files."""
        return len(self._entries)

    # -- lifecycle ---------------------------------------------------------

    def open(self) -> None:
        """Lock the directory, delete leftover temps, index the files already there."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock()
        self._entries.clear()
        self.bytes_on_disk = 0
        for path in self.directory.iterdir():
            if path.name.endswith(_TEMP_SUFFIX) and path not in self._temps:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            elif path.suffix in _COMPLETE and _KEY.match(path.name):
                with contextlib.suppress(OSError):
                    if not _COMPLETE[path.suffix](path):
                        log.warning("removing incomplete cached clip %s", path.name)
                        path.unlink()
                        self.evictions["corrupt"] += 1
                        continue
                    st = path.stat()
                    self._add(_key_of(path.name), st.st_size, st.st_mtime)

    def close(self) -> None:
        """Release the directory for another process (the files stay)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def _lock(self) -> None:
        if self._lock_fd is not None:
            return
        # A lock on the directory itself: no lock file among the clips.
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CacheDirectoryBusy(
                f"the cache directory {self.directory} is in use by another origin process: "
                "give each server and worker its own ORIGIN_CACHE_DIR (or ORIGIN_HOME)"
            ) from None
        self._lock_fd = fd

    def start_periodic(self, interval_s: float) -> None:
        """Run :meth:`cleanup` every ``interval_s`` in a background task until stopped."""
        if self._periodic is None:
            self._periodic = asyncio.get_running_loop().create_task(self._run_periodic(interval_s))

    async def stop_periodic(self) -> None:
        """Stop the background cleanup task and wait for it."""
        task, self._periodic = self._periodic, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_periodic(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.cleanup()
            except OSError:
                # A full or broken disk must not kill the loop; the next pass retries.
                log.exception("clip cache cleanup failed")

    # -- files -------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """Where the finished file for ``key`` lives."""
        if not _KEY.match(key):
            raise ValueError(f"unsafe cache key {key!r}")
        return self.directory / _file_name(key)

    def lookup(self, key: str) -> Path | None:
        """The finished file for ``key`` (a hit marks it used), or None (a miss)."""
        path = self.path_for(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            if key in self._entries:
                self._forget(key, "missing")  # deleted behind our back
            self.misses += 1
            return None
        entry = self._entries.get(key)
        if entry is None:
            # Complete (it could only get there by rename) but unindexed, e.g.
            # its commit was cancelled after the rename: adopt it.
            entry = self._add(key, st.st_size, self._clock())
        entry.last_used = self._clock()
        self.hits += 1
        return path

    def new_temp(self, key: str) -> Path:
        """Create and return an empty, uniquely named temp file for ``key``."""
        while True:
            temp = self.directory / f"{key}.{secrets.token_hex(6)}{_TEMP_SUFFIX}"
            try:
                os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                continue
            self._temps.add(temp)
            return temp

    async def commit(self, key: str, temp: Path) -> Path:
        """Make ``temp`` the finished file for ``key`` (durably); evict if over the limits.

        Raises ValueError (and deletes ``temp``) if it is empty.
        """
        final = self.path_for(key)
        try:
            size = replace_into_place(temp, final)
        except ValueError:
            self.discard(temp)
            raise
        finally:
            self._temps.discard(temp)
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes_on_disk -= old.size
        self._add(key, size, self._clock())
        self.enforce_limits()
        return final

    def discard(self, temp: Path) -> None:
        """Delete a temp file whose run failed or was abandoned."""
        self._temps.discard(temp)
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()

    # -- limits ------------------------------------------------------------

    def has_room(self) -> bool:
        """True if the filesystem is at or above the free-space floor."""
        return self.min_free_bytes <= 0 or self._disk_free() >= self.min_free_bytes

    def enforce_limits(self) -> int:
        """Evict by idle TTL, then total size, then the disk floor; return how many went."""
        now = self._clock()
        evicted = 0
        if self.idle_ttl_s is not None:
            for key, entry in list(self._entries.items()):
                if now - entry.last_used > self.idle_ttl_s and self._evictable(entry, now):
                    self._evict(key, "ttl")
                    evicted += 1
        lru = sorted(self._entries, key=lambda k: self._entries[k].last_used)
        candidates = [k for k in lru if self._evictable(self._entries[k], now)]
        while self.bytes_on_disk > self.max_bytes and candidates:
            self._evict(candidates.pop(0), "size")
            evicted += 1
        while candidates and not self.has_room():
            self._evict(candidates.pop(0), "disk")
            evicted += 1
        return evicted

    def cleanup(self) -> int:
        """:meth:`enforce_limits`, plus delete orphaned temps older than ``stale_temp_age_s``."""
        evicted = self.enforce_limits()
        cutoff = time.time() - self.stale_temp_age_s  # compared with mtimes: wall clock
        for path in self.directory.glob("*" + _TEMP_SUFFIX):
            if path in self._temps:
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
        return evicted

    # -- index -------------------------------------------------------------

    def _evictable(self, entry: _Entry, now: float) -> bool:
        return now - entry.last_used >= self.in_use_grace_s

    def _add(self, key: str, size: int, last_used: float) -> _Entry:
        entry = _Entry(size=size, last_used=last_used)
        self._entries[key] = entry
        self.bytes_on_disk += size
        return entry

    def _forget(self, key: str, reason: EvictReason) -> None:
        entry = self._entries.pop(key)
        self.bytes_on_disk -= entry.size
        self.evictions[reason] += 1

    def _evict(self, key: str, reason: EvictReason) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_for(key).unlink()
        self._forget(key, reason)
