"""The indexes of recent sources, in memory and saved beside the clip cache.

Parsing a long source's ``moov`` costs milliseconds to a second, and every
smart cut needs its source's index: :data:`INDEXES` keeps them for the
process (bounded by bytes, ``ORIGIN_INDEX_CACHE_MAX_BYTES``) and, once the
pool gives it a directory, on disk, so a restarted replica reads them back.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from pool.cutting.smart_plan import SmartCutUnsupported
from pool.mp4.boxes import Mp4Error
from pool.mp4.index import Movie, read_movie
from pool.mp4.index_file import dump_movie, load_movie
from pool.request import ClipRequest
from pool.sources.reader import SourceReader

log = logging.getLogger(__name__)


class IndexCache:
    """Recent sources' indexes, up to ``max_bytes`` of them, least recently used out first.

    Parsing a long source's ``moov`` costs milliseconds to a second; keyed by
    where the source is and its identity, which changes with its bytes. An
    index is counted by :meth:`~pool.mp4.index.Movie.nbytes` (its columns
    and boxes), 26 to 29 bytes a sample (docs/benchmarks.md): a two-hour
    1080p30 source with its audio is about 15 MiB, so 64 MiB hold four. One
    index larger than the bound is used but not kept.

    With a ``directory`` (:meth:`configure`), every index built is also saved
    there (:func:`~pool.mp4.index_file.dump_movie`: versioned, keyed, with a
    digest; written to a temp file renamed into place), and an index not in
    memory is loaded from there before the source is read: a restarted
    process skips the parse. Files that do not load (another format, damaged,
    another source) are deleted and the index rebuilt; the directory is kept
    under ``disk_max_bytes``, least recently used files out first.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.directory: Path | None = None
        self.disk_max_bytes = 4 * max_bytes
        self.loads = 0  # indexes read from the directory
        self.builds = 0  # indexes parsed from a source
        self._has_room: Callable[[], bool] | None = None
        self._movies: OrderedDict[tuple[str, str], tuple[Movie, int]] = OrderedDict()
        self._lock = threading.Lock()

    def configure(
        self,
        max_bytes: int,
        directory: Path | None,
        disk_max_bytes: int | None = None,
        has_room: Callable[[], bool] | None = None,
    ) -> None:
        """Set the memory bound and where indexes are saved (None: nowhere), and what says
        whether the disk has room for one more (the clip cache's floor); removes leftover
        temps there. Indexes in memory stay, within the new bound."""
        with self._lock:
            self.max_bytes = max_bytes
            self.disk_max_bytes = 4 * max_bytes if disk_max_bytes is None else disk_max_bytes
            self.directory = directory
            self._has_room = has_room
            self._trim()
        if directory is not None:
            for temp in directory.glob("*" + _TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    temp.unlink()

    def clear(self) -> None:
        """Forget every index in memory (the saved ones stay)."""
        with self._lock:
            self._movies.clear()
            self.bytes = 0

    def get(self, request: ClipRequest, reader: SourceReader) -> Movie:
        # A presigned URL's query changes with every request; its path does not.
        key = (request.source_input.partition("?")[0], request.source_identity)
        with self._lock:
            if key in self._movies:
                self._movies.move_to_end(key)
                return self._movies[key][0]
        movie = self._load(key)
        if movie is None:
            try:
                movie = read_movie(reader.read_at, reader.size)
            except (Mp4Error, struct.error) as exc:
                raise SmartCutUnsupported("container", str(exc)) from None
            self.builds += 1
            self._save(key, movie)
        else:
            self.loads += 1
        self.put(key, movie)
        return movie

    def put(self, key: tuple[str, str], movie: Movie) -> None:
        """Keep ``movie``, then drop the least recently used until the bound holds."""
        size = movie.nbytes()
        with self._lock:
            old = self._movies.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            if size > self.max_bytes:
                return
            self._movies[key] = (movie, size)
            self.bytes += size
            self._trim()

    def _trim(self) -> None:
        while self.bytes > self.max_bytes:
            _, (_, dropped) = self._movies.popitem(last=False)
            self.bytes -= dropped

    def __len__(self) -> int:
        return len(self._movies)

    # -- on disk -------------------------------------------------------------

    @staticmethod
    def _key_text(key: tuple[str, str]) -> str:
        return f"{key[0]}\n{key[1]}"

    def path_for(self, key: tuple[str, str]) -> Path | None:
        """Where the index of ``key`` is saved (None without a directory)."""
        if self.directory is None:
            return None
        digest = hashlib.sha256(self._key_text(key).encode()).hexdigest()[:40]
        return self.directory / f"{digest}{_INDEX_SUFFIX}"

    def _load(self, key: tuple[str, str]) -> Movie | None:
        path = self.path_for(key)
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            movie = load_movie(data, self._key_text(key))
        except Mp4Error as exc:
            log.warning("ignoring saved index %s: %s", path.name, exc)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: trimmed last
        return movie

    def _save(self, key: tuple[str, str], movie: Movie) -> None:
        path = self.path_for(key)
        if path is None or (self._has_room is not None and not self._has_room()):
            return
        temp = path.with_name(f"{path.name}.{secrets.token_hex(6)}{_TEMP_SUFFIX}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_bytes(dump_movie(movie, self._key_text(key)))
            os.replace(temp, path)
        except OSError as exc:
            log.warning("could not save the index %s: %s", path.name, exc)
            with contextlib.suppress(OSError):
                temp.unlink()
            return
        self._trim_disk(path.parent)

    def _trim_disk(self, directory: Path) -> None:
        files: list[tuple[float, int, Path]] = []
        for path in directory.glob("*" + _INDEX_SUFFIX):
            with contextlib.suppress(OSError):
                st = path.stat()
                files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.disk_max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
            total -= size


_INDEX_SUFFIX = ".idx"
_TEMP_SUFFIX = ".tmp"


DEFAULT_INDEX_CACHE_BYTES = 64 * 1024 * 1024
INDEXES = IndexCache(DEFAULT_INDEX_CACHE_BYTES)
