"""The index cache: bounded by bytes in memory, saved beside the clip cache, never trusted blindly.

A saved index is versioned, keyed by the source's location and identity and
checked by a digest; one that does not load is deleted and rebuilt, its
directory stays under its cap, and nothing half-written is left.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from pool.cutting.index_cache import IndexCache
from pool.cutting.smart_plan import SmartCutUnsupported
from pool.mp4.boxes import Mp4Error, file_reader
from pool.mp4.index import Movie, read_movie
from pool.mp4.index_file import INDEX_MAGIC, dump_movie, load_movie
from pool.request import ClipRequest
from pool.sources.reader import LocalReader, SourceReader


def request(path: Path, identity: str = "1-2") -> ClipRequest:
    return ClipRequest(1, 1, f"file:{path}", identity, Decimal(0), Decimal(1), "file")


class Unreadable(LocalReader):
    """A reader that fails if the source is read: the index must come from the cache."""

    def read_at(self, offset: int, size: int) -> bytes:
        raise AssertionError("the source was read")


def movie_of(path: Path) -> Movie:
    return read_movie(*file_reader(path))


def samples(movie: Movie) -> list[list[object]]:
    return [list(t.samples) for t in movie.tracks]


@pytest.fixture
def source(sample_video: Path) -> Path:
    return sample_video


def test_memory_is_bounded_by_bytes_least_recently_used_out(source: Path) -> None:
    movie = movie_of(source)
    size = movie.nbytes()
    assert 0 < size < 40 * sum(len(t.samples) for t in movie.tracks) + 4096
    cache = IndexCache(2 * size + size // 2)
    cache.put(("a", "1"), movie)
    cache.put(("b", "1"), movie)
    cache.put(("a", "1"), movie)  # a is now the most recent
    cache.put(("c", "1"), movie)
    assert len(cache) == 2
    assert cache.bytes == 2 * size <= cache.max_bytes
    reader = Unreadable(source)
    assert cache.get(_req("a"), reader) is movie
    with pytest.raises(AssertionError, match="the source was read"):
        cache.get(_req("b"), reader)  # b was evicted: it must be parsed again


def _req(where: str) -> ClipRequest:
    return ClipRequest(1, 1, where, "1", Decimal(0), Decimal(1), "file")


def test_an_index_larger_than_the_bound_is_used_not_kept(source: Path) -> None:
    cache = IndexCache(100)
    movie = cache.get(request(source), LocalReader(source))
    assert samples(movie) == samples(movie_of(source))
    assert len(cache) == 0
    assert cache.bytes == 0


def test_a_saved_index_is_loaded_by_a_new_process(source: Path, tmp_path: Path) -> None:
    first = IndexCache(64 << 20)
    first.configure(64 << 20, tmp_path / "indexes")
    built = first.get(request(source), LocalReader(source))
    assert (first.builds, first.loads) == (1, 0)
    saved = list((tmp_path / "indexes").iterdir())
    assert [p.suffix for p in saved] == [".idx"]  # no temp left behind
    restarted = IndexCache(64 << 20)
    restarted.configure(64 << 20, tmp_path / "indexes")
    loaded = restarted.get(request(source), Unreadable(source))
    assert (restarted.builds, restarted.loads) == (0, 1)
    assert samples(loaded) == samples(built)
    # Another identity (the source's bytes changed) is another index.
    with pytest.raises(AssertionError, match="the source was read"):
        restarted.get(request(source, identity="3-4"), Unreadable(source))


def damage_version(data: bytes) -> bytes:
    at = len(INDEX_MAGIC)
    return data[:at] + (99).to_bytes(4, "little") + data[at + 4 :]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:100] + bytes([data[100] ^ 1]) + data[101:],  # a flipped bit
        damage_version,  # another format
        lambda data: b"",
    ],
    ids=["truncated", "flipped", "version", "empty"],
)
def test_a_damaged_saved_index_is_ignored_and_rebuilt(
    source: Path, tmp_path: Path, damage: object
) -> None:
    assert callable(damage)
    directory = tmp_path / "indexes"
    cache = IndexCache(64 << 20)
    cache.configure(64 << 20, directory)
    built = cache.get(request(source), LocalReader(source))
    (path,) = directory.iterdir()
    path.write_bytes(damage(path.read_bytes()))
    restarted = IndexCache(64 << 20)
    restarted.configure(64 << 20, directory)
    again = restarted.get(request(source), LocalReader(source))
    assert (restarted.builds, restarted.loads) == (1, 0)
    assert samples(again) == samples(built)
    assert samples(load_movie(path.read_bytes(), f"file:{source}\n1-2")) == samples(built)


def test_a_saved_index_of_another_source_is_refused(source: Path) -> None:
    data = dump_movie(movie_of(source), "file:/a.mp4\n1")
    assert samples(load_movie(data, "file:/a.mp4\n1")) == samples(movie_of(source))
    with pytest.raises(Mp4Error, match="another source"):
        load_movie(data, "file:/a.mp4\n2")


def test_the_saved_indexes_stay_under_their_cap(source: Path, tmp_path: Path) -> None:
    directory = tmp_path / "indexes"
    one = len(dump_movie(movie_of(source), f"file:{source}\n0"))
    cache = IndexCache(64 << 20)
    cache.configure(64 << 20, directory, disk_max_bytes=2 * one + one // 2)
    (directory).mkdir()
    (directory / "leftover.idx.0123.tmp").write_bytes(b"half")
    cache.configure(64 << 20, directory, disk_max_bytes=2 * one + one // 2)
    for n in range(4):
        cache.get(request(source, identity=str(n)), LocalReader(source))
        newest = cache.path_for((f"file:{source}", str(n)))
        assert newest is not None
        os.utime(newest, (1000 + n, 1000 + n))  # distinct ages, oldest first
    files = sorted(directory.iterdir())
    assert len(files) == 2
    assert sum(p.stat().st_size for p in files) <= 2 * one + one // 2
    assert {cache.path_for((f"file:{source}", n)) for n in ("2", "3")} == set(files)


def test_a_source_that_is_not_an_mp4_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0" * 64)
    reader: SourceReader = LocalReader(junk)
    with pytest.raises(SmartCutUnsupported):
        IndexCache(1 << 20).get(request(junk), reader)


def test_nothing_is_saved_below_the_disk_floor(source: Path, tmp_path: Path) -> None:
    cache = IndexCache(64 << 20)
    cache.configure(64 << 20, tmp_path / "indexes", has_room=lambda: False)
    cache.get(request(source), LocalReader(source))
    assert cache.builds == 1
    assert not (tmp_path / "indexes").exists()
