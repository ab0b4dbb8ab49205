"""The shared clip store behind the pool: read before cutting, write through, warm, yield."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from pool.errors import Preempted
from pool.process import FfmpegProcess
from pool.store import ClipStore, StoreError, open_store
from pool.store.directory import DirectoryStore
from tests.conftest import S3Server
from tests.pool.conftest import MakePool, clip, eventually

pytestmark = pytest.mark.anyio


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(params=["directory", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ClipStore:
    if request.param == "directory":
        return open_store(str(tmp_path / "store"))
    s3: S3Server = request.getfixturevalue("s3_server")
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    bucket = f"store-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    s3.client().create_bucket(Bucket=bucket)
    return open_store(f"s3://{bucket}/fleet", s3_endpoint_url=s3.endpoint_url)


async def test_a_second_pool_copies_the_clip_from_the_store_instead_of_cutting(
    make_pool: MakePool, store: ClipStore, sample_no_bframes: Path, tmp_path: Path
) -> None:
    first = await make_pool(store=store, cache_dir=tmp_path / "a")
    second = await make_pool(store=store, cache_dir=tmp_path / "b")
    wanted = clip(sample_no_bframes, "2", "6")
    cut = await first.fetch_file(wanted)
    assert cut.cache == "miss"
    assert first.store is not None
    await first.store.written(wanted.cache_key, cut.path)
    assert store.contains(wanted.cache_key)
    copied = await second.fetch_file(wanted)
    assert copied.cache == "store"
    assert second.runs_started == 0
    assert digest(copied.path) == digest(cut.path)
    assert second.store is not None
    assert (second.store.hits, second.store.misses) == (1, 0)
    assert (await second.fetch_file(wanted)).cache == "hit"
    [stored] = [c for c in store.clips() if c.key == wanted.cache_key]
    assert stored.size == cut.path.stat().st_size
    assert stored.clip_version == (1, 1)


async def test_warm_cuts_once_and_then_finds_the_clip_stored(
    make_pool: MakePool, store: ClipStore, sample_no_bframes: Path, tmp_path: Path
) -> None:
    pool = await make_pool(store=store, cache_dir=tmp_path / "a")
    wanted = clip(sample_no_bframes, "2", "6", clip_id=7, version=3)
    assert await pool.warm(wanted) is True
    assert store.contains(wanted.cache_key)
    other = await make_pool(store=store, cache_dir=tmp_path / "b")
    assert await other.warm(wanted) is False
    assert (pool.runs_started, other.runs_started) == (1, 0)


async def test_an_unreachable_store_is_a_miss_and_the_clip_is_still_cut(
    make_pool: MakePool, sample_no_bframes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    dead = open_store("s3://nowhere/clips", s3_endpoint_url="http://127.0.0.1:9")
    pool = await make_pool(store=dead)
    fetched = await pool.fetch_file(clip(sample_no_bframes, "2", "4"))
    assert fetched.cache == "miss"
    assert pool.store is not None
    await eventually(lambda: pool.store is not None and pool.store.errors >= 2, 30.0)


async def test_a_request_preempts_a_warm_run_and_never_sees_429(
    make_pool: MakePool, sample_no_bframes: Path, tmp_path: Path, wrapper_script: object
) -> None:
    store = DirectoryStore(tmp_path / "store")
    slow = wrapper_script("slow-ffmpeg", 'sleep 5\nexec "$REAL" "$@"')  # type: ignore[operator]
    pool = await make_pool(store=store, max_processes=1, queue_timeout_s=0.0, ffmpeg=slow)
    warm_request = clip(sample_no_bframes, "2", "6", clip_id=1)
    warming = asyncio.create_task(pool.warm(warm_request))
    await eventually(lambda: pool.status().active_background == 1)
    # The slow wrapper makes the request's own cut slow too; what matters is
    # that it got the slot at once instead of a 429.
    request = asyncio.create_task(pool.fetch_file(clip(sample_no_bframes, "2", "4", clip_id=2)))
    with pytest.raises(Preempted):
        await warming
    await eventually(lambda: pool.status().active == 1 and pool.status().pids != ())
    assert pool.slots.preemptions == 1
    assert pool.run_outcomes["preempted"] == 1
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
    assert not store.contains(warm_request.cache_key)
    assert [p.name for p in (tmp_path / "store").rglob("*.tmp")] == []


async def test_a_request_that_joins_a_warm_run_promotes_it(
    make_pool: MakePool, sample_no_bframes: Path, tmp_path: Path
) -> None:
    store = DirectoryStore(tmp_path / "store")
    pool = await make_pool(store=store, max_processes=1, queue_timeout_s=0.0)
    wanted = clip(sample_no_bframes, "2", "6")
    warming = asyncio.create_task(pool.warm(wanted))
    await eventually(lambda: pool.status().active_background == 1)
    fetched = await pool.fetch_file(wanted)
    assert fetched.cache == "coalesced"
    assert await warming is True
    assert pool.slots.preemptions == 0
    assert pool.runs_started == 1


def test_directory_store_writes_whole_files_and_refuses_unsafe_names(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "store")
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"x" * 1000)
    store.put("c1-v2-smart-abc", source)
    assert sorted(p.name for p in (tmp_path / "store" / "clips").iterdir()) == [
        "c1-v2-smart-abc.mp4"
    ]
    dest = tmp_path / "copy"
    dest.touch()
    assert store.fetch("c1-v2-smart-abc", dest)
    assert dest.read_bytes() == b"x" * 1000
    assert not store.fetch("c9-v1-smart-abc", dest)
    store.delete("c1-v2-smart-abc")
    store.delete("c1-v2-smart-abc")
    assert list(store.clips()) == []
    with pytest.raises(StoreError):
        store.put("../escape", source)
    with pytest.raises(StoreError):
        store.put_export("../../escape.mp4", source)
    where = store.put_export("3/source_1.5-4.mp4", source)
    assert store.export_path("3/source_1.5-4.mp4") == Path(where)
    assert store.export_url("3/source_1.5-4.mp4", 60) is None


def test_open_store_refuses_unknown_schemes() -> None:
    with pytest.raises(StoreError, match="unsupported"):
        open_store("gs://bucket/prefix")
    with pytest.raises(StoreError, match="expected"):
        open_store("s3:///prefix")


def niceness(pid: int) -> int:
    """The nice value of ``pid`` (field 19 of /proc/<pid>/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[16])


async def test_warm_runs_are_nicest_until_a_request_joins(
    make_pool: MakePool, sample_no_bframes: Path, tmp_path: Path, wrapper_script: object
) -> None:
    slow = wrapper_script("slow-ffmpeg", 'sleep 1\nexec "$REAL" "$@"')  # type: ignore[operator]
    pool = await make_pool(store=DirectoryStore(tmp_path / "store"), ffmpeg=slow, ffmpeg_nice=5)
    wanted = clip(sample_no_bframes, "2", "6")
    warming = asyncio.create_task(pool.warm(wanted))
    await eventually(lambda: pool.status().pids != ())
    [pid] = pool.status().pids
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert niceness(pid) == min(19, own + 19)
    joined = asyncio.create_task(pool.fetch_file(wanted))
    await eventually(lambda: niceness(pid) == own + 5)  # root may lower it again
    assert (await joined).cache == "coalesced"
    assert await warming is True


def state(pid: int) -> str:
    """The one-letter state of ``pid`` (``T``: stopped)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2]


async def test_warm_runs_pause_while_a_request_holds_a_slot(
    make_pool: MakePool, sample_no_bframes: Path, tmp_path: Path, wrapper_script: object
) -> None:
    slow = wrapper_script("slow-ffmpeg", 'sleep 1\nexec "$REAL" "$@"')  # type: ignore[operator]
    pool = await make_pool(store=DirectoryStore(tmp_path / "store"), ffmpeg=slow, max_processes=2)
    warming = asyncio.create_task(pool.warm(clip(sample_no_bframes, "2", "6", clip_id=1)))
    await eventually(lambda: pool.status().pids != ())
    [warm_pid] = pool.status().pids
    request = asyncio.create_task(pool.fetch_file(clip(sample_no_bframes, "2", "4", clip_id=2)))
    await eventually(lambda: len(pool.status().pids) == 2)
    await eventually(lambda: state(warm_pid) == "T")
    assert pool.slots.preemptions == 0  # a free slot: paused, not killed
    assert (await request).cache == "miss"
    await eventually(lambda: state(warm_pid) != "T")
    assert await warming is True


async def test_a_request_joining_a_warm_run_as_it_spawns_gets_it_running(
    make_pool: MakePool, sample_no_bframes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by bench.warming: promoted between the spawn and the supervisor's
    # bookkeeping, the run was paused as a background run, and the request
    # that held a slot waited for it until the run timeout.
    pool = await make_pool(store=DirectoryStore(tmp_path / "store"))
    wanted = clip(sample_no_bframes, "2", "6")
    real_spawn = FfmpegProcess.spawn.__func__  # type: ignore[attr-defined]
    joined: list[asyncio.Task[object]] = []

    async def spawn_then_join(cls: type[FfmpegProcess], /, *args: object, **kw: object) -> object:
        process = await real_spawn(cls, *args, **kw)
        joined.append(asyncio.create_task(pool.fetch_file(wanted)))
        await eventually(lambda: pool.slots.active_background == 0)  # promoted
        return process

    monkeypatch.setattr(FfmpegProcess, "spawn", classmethod(spawn_then_join))
    warming = asyncio.create_task(pool.warm(wanted))
    await eventually(lambda: bool(joined))
    fetched = await asyncio.wait_for(joined[0], 20)  # the run timeout is 30 s
    assert fetched.cache == "coalesced"  # type: ignore[attr-defined]
    assert await warming is True
