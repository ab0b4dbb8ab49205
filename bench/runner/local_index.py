"""The sample index of a local MP4 file, read once (not timed)."""

from __future__ import annotations

from pathlib import Path

from pool.mp4.index import Movie, read_movie


def local_movie(path: Path) -> Movie:
    """``path``'s index (:func:`pool.mp4.index.read_movie`), read from the file."""
    with path.open("rb") as f:
        size = f.seek(0, 2)

        def read_at(offset: int, n: int) -> bytes:
            f.seek(offset)
            return f.read(n)

        return read_movie(read_at, size)
