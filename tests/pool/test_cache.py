"""The on-disk cache with small files and a fake clock: commit, temps, eviction."""

from __future__ import annotations

import asyncio
import os
import struct
import time
from pathlib import Path

import pytest

from pool.cache import CacheDirectoryBusy, ClipCache
from tests.pool.conftest import MakePool, listing

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make_cache(directory: Path, clock: Clock, **limits: object) -> ClipCache:
    settings: dict[str, object] = {"max_bytes": 1 << 30, "in_use_grace_s": 0.0}
    settings.update(limits)
    cache = ClipCache(directory, clock=clock, **settings)  # type: ignore[arg-type]
    cache.open()
    return cache


async def put(cache: ClipCache, key: str, size: int) -> Path:
    temp = cache.new_temp(key)
    temp.write_bytes(b"x" * size)
    return await cache.commit(key, temp)


async def test_commit_renames_the_temp_into_place(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, Clock())
    temp = cache.new_temp("c1-v1-file-abc")
    assert temp.name.startswith("c1-v1-file-abc.")
    assert temp.name.endswith(".tmp")
    temp.write_bytes(b"clip")
    path = await cache.commit("c1-v1-file-abc", temp)
    assert path == tmp_path / "c1-v1-file-abc.mp4"
    assert path.read_bytes() == b"clip"
    assert not temp.exists()
    assert (cache.files, cache.bytes_on_disk) == (1, 4)
    assert cache.lookup("c1-v1-file-abc") == path
    assert (cache.hits, cache.misses) == (1, 0)


async def test_an_empty_file_is_never_cached(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, Clock())
    temp = cache.new_temp("k")
    with pytest.raises(ValueError, match="empty"):
        await cache.commit("k", temp)
    assert listing(tmp_path) == []
    assert cache.lookup("k") is None
    assert cache.misses == 1


async def test_discard_deletes_the_temp(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, Clock())
    temp = cache.new_temp("k")
    temp.write_bytes(b"partial")
    cache.discard(temp)
    cache.discard(temp)  # twice is fine
    assert listing(tmp_path) == []


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


# The smallest file the start-up check accepts: ftyp, moov, mdat filling it exactly.
COMPLETE_MP4 = box(b"ftyp", b"isom") + box(b"moov") + box(b"mdat", b"frames")


async def test_open_removes_stale_temps_and_indexes_existing_files(tmp_path: Path) -> None:
    (tmp_path / "c1-v1-file-abc.3f2a.tmp").write_bytes(b"half a clip")
    (tmp_path / "c2-v1-file-def.mp4").write_bytes(COMPLETE_MP4)
    (tmp_path / "notes.txt").write_text("not ours")
    cache = make_cache(tmp_path, Clock())
    assert listing(tmp_path) == ["c2-v1-file-def.mp4", "notes.txt"]
    assert (cache.files, cache.bytes_on_disk) == (1, len(COMPLETE_MP4))


@pytest.mark.parametrize(
    "content",
    [
        COMPLETE_MP4[:-3],  # cut short
        b"\0" * len(COMPLETE_MP4),  # zero-filled
        box(b"ftyp", b"isom") + box(b"mdat", b"frames"),  # no moov
        b"12345",
    ],
)
async def test_open_removes_incomplete_clips(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "c3-v1-file-abc.mp4").write_bytes(content)
    cache = make_cache(tmp_path, Clock())
    assert listing(tmp_path) == []
    assert cache.files == 0
    assert cache.evictions["corrupt"] == 1


async def test_pool_start_removes_stale_temps(make_pool: MakePool, cache_dir: Path) -> None:
    os.makedirs(cache_dir)
    stale = cache_dir / "c1-v1-file-0123456789abcdef.a1b2c3.tmp"
    stale.write_bytes(b"left by a crash")
    await make_pool()
    assert not stale.exists()


async def test_lru_eviction_by_total_size(tmp_path: Path) -> None:
    clock = Clock()
    cache = make_cache(tmp_path, clock, max_bytes=250)
    for key in ("a", "b", "c"):
        await put(cache, key, 100)  # 300 > 250: "a", the oldest, goes at once
        clock.now += 1
    assert cache.lookup("a") is None
    assert cache.evictions["size"] == 1
    clock.now += 1
    assert cache.lookup("b") is not None  # b is now more recent than c
    clock.now += 1
    await put(cache, "d", 100)
    assert cache.lookup("c") is None
    assert cache.lookup("b") is not None
    assert cache.lookup("d") is not None
    assert cache.evictions["size"] == 2
    assert cache.bytes_on_disk == 200
    assert listing(tmp_path) == ["b.mp4", "d.mp4"]


async def test_recently_used_files_are_not_evicted(tmp_path: Path) -> None:
    clock = Clock()
    cache = make_cache(tmp_path, clock, max_bytes=150, in_use_grace_s=5.0)
    await put(cache, "a", 100)
    await put(cache, "b", 100)
    assert cache.bytes_on_disk == 200  # both in use: over the limit for now
    clock.now += 6
    assert cache.enforce_limits() == 1
    assert cache.files == 1


async def test_idle_ttl_expiry(tmp_path: Path) -> None:
    clock = Clock()
    cache = make_cache(tmp_path, clock, idle_ttl_s=60.0)
    await put(cache, "old", 10)
    await put(cache, "used", 10)
    clock.now += 50
    assert cache.lookup("used") is not None
    clock.now += 20  # "old" idle 70 s, "used" idle 20 s
    assert cache.cleanup() == 1
    assert cache.evictions["ttl"] == 1
    assert cache.lookup("old") is None
    assert cache.lookup("used") is not None


async def test_free_disk_floor_evicts_lru_until_above_it(tmp_path: Path) -> None:
    clock = Clock()
    disk = {"free": 1000}
    cache = ClipCache(
        tmp_path,
        max_bytes=1 << 30,
        min_free_bytes=500,
        in_use_grace_s=0.0,
        clock=clock,
        disk_free=lambda: disk["free"] + (300 - cache.bytes_on_disk),
    )
    cache.open()
    for key in ("a", "b", "c"):
        await put(cache, key, 100)
        clock.now += 1
    assert cache.has_room()
    disk["free"] = 350  # something else filled the disk: 350 free with our 300 bytes
    assert not cache.has_room()
    assert cache.cleanup() == 2  # 350 → 450 → 550: two files go, the newest stays
    assert cache.evictions["disk"] == 2
    assert cache.has_room()
    assert cache.lookup("c") is not None
    assert cache.lookup("a") is None


async def test_free_disk_floor_reports_no_room_when_nothing_can_go(tmp_path: Path) -> None:
    cache = ClipCache(
        tmp_path, max_bytes=1 << 30, min_free_bytes=500, in_use_grace_s=10.0, disk_free=lambda: 10
    )
    cache.open()
    await put(cache, "a", 10)
    assert cache.files == 1  # just used: protected by the grace period
    cache.in_use_grace_s = 0.0
    cache.enforce_limits()
    assert not cache.has_room()  # the caller falls back to an uncached stream
    assert cache.evictions["disk"] == 1
    assert cache.files == 0


async def test_a_file_deleted_behind_the_cache_is_a_miss(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, Clock())
    path = await put(cache, "k", 10)
    path.unlink()
    assert cache.lookup("k") is None
    assert cache.evictions["missing"] == 1
    assert (cache.files, cache.bytes_on_disk) == (0, 0)


async def test_a_complete_file_unknown_to_the_index_is_adopted(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, Clock())
    (tmp_path / "k.mp4").write_bytes(b"renamed but not registered")
    assert cache.lookup("k") == tmp_path / "k.mp4"
    assert cache.files == 1


async def test_orphaned_temps_go_after_a_while(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, Clock(), stale_temp_age_s=60.0)
    mine = cache.new_temp("mine")
    orphan = tmp_path / "other.0000.tmp"
    orphan.write_bytes(b"x")
    fresh = tmp_path / "fresh.0000.tmp"
    fresh.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(orphan, (an_hour_ago, an_hour_ago))
    os.utime(mine, (an_hour_ago, an_hour_ago))
    cache.cleanup()
    assert not orphan.exists()
    assert fresh.exists()
    assert mine.exists()  # still being written by this process


async def test_periodic_cleanup_runs_until_stopped(tmp_path: Path) -> None:
    clock = Clock()
    cache = make_cache(tmp_path, clock, idle_ttl_s=1.0)
    await put(cache, "k", 10)
    clock.now += 5
    cache.start_periodic(0.01)
    for _ in range(200):
        if cache.files == 0:
            break
        await asyncio.sleep(0.01)
    await cache.stop_periodic()
    assert cache.files == 0
    assert cache.evictions["ttl"] == 1


def test_unsafe_keys_are_refused(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, max_bytes=1)
    for key in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="unsafe"):
            cache.path_for(key)


def test_a_cache_directory_belongs_to_one_cache_at_a_time(tmp_path: Path) -> None:
    first = make_cache(tmp_path, Clock())
    with pytest.raises(CacheDirectoryBusy, match="ORIGIN_CACHE_DIR"):
        make_cache(tmp_path, Clock())
    first.close()
    make_cache(tmp_path, Clock()).close()
