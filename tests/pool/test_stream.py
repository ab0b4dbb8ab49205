"""Pipe mode: bytes as ffmpeg cuts them, teed into the cache, killed when nobody reads."""

from __future__ import annotations

import asyncio
import gc
import os
import stat
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from pool.clip_pool import ClipPool, ClipStream
from pool.errors import CacheFull, Saturated, SourceUnavailable
from tests.pool.conftest import (
    MakePool,
    clip,
    eventually,
    ffmpeg_children,
    group_members,
    pid_alive,
)

pytestmark = pytest.mark.anyio

STOP_AFTER = 100_000


async def read_all(stream: ClipStream) -> bytes:
    async with stream:
        return b"".join([chunk async for chunk in stream])


def assert_nothing_cached(pool: ClipPool) -> None:
    assert list(pool.cache.directory.iterdir()) == []
    assert pool.cache.files == 0


async def test_stream_delivers_the_clip_and_caches_it(
    make_pool: MakePool, ffmpeg: str, sample_no_bframes: Path, tmp_path: Path
) -> None:
    pool = await make_pool()
    request = clip(sample_no_bframes, "5.5", "9.5", mode="pipe")
    stream = pool.stream(request)
    body = await read_all(stream)
    assert stream.path is None  # it was cut live

    cached = pool.cached(request)
    assert cached is not None
    assert cached.read_bytes() == body
    again = pool.stream(request)
    assert await read_all(again) == body
    assert again.path == cached
    assert again.size == len(body)
    assert pool.runs_started == 1
    assert pool.run_outcomes["ok"] == 1

    # It decodes; as a fragmented MP4 it also shows the pre-roll from the 4 s keyframe.
    assert decoded_video_frames(ffmpeg, body, tmp_path / "out.mp4") == (9.5 - 4) * 30


def decoded_video_frames(ffmpeg: str, body: bytes, path: Path) -> int:
    path.write_bytes(body)
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(1 for line in out.splitlines() if line.startswith("0,"))


async def read_until_stopped(pool: ClipPool, stream: ClipStream) -> int:
    """Read until STOP_AFTER bytes, check ffmpeg is still running, return its pid."""
    got = 0
    async for chunk in stream:
        got += len(chunk)
        if got >= STOP_AFTER:
            break
    [pid] = pool.status().pids
    assert pid_alive(pid), "ffmpeg should still be cutting a 30 s clip after 100 KB"
    return pid


async def test_a_reader_that_stops_kills_the_run_and_caches_nothing(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool(stream_buffer_bytes=64 * 1024)
    request = clip(sample_no_bframes, "0", "30", mode="pipe")
    async with pool.stream(request) as stream:
        pid = await read_until_stopped(pool, stream)
    took = await eventually(lambda: not pid_alive(pid) and pool.status().pids == (), 2.0)
    assert took < 2.0
    await eventually(lambda: pool.status().active == 0 and not ffmpeg_children(), 2.0)
    assert pool.run_outcomes["client_gone"] == 1
    assert_nothing_cached(pool)
    assert pool.cached(request) is None


async def test_a_cancelled_response_kills_the_run(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    # What uvicorn does when the client disconnects: cancel the task sending the
    # body, wherever it is (usually in send(), outside the iterator), so the
    # response body closes the stream in a finally.
    pool = await make_pool(stream_buffer_bytes=64 * 1024)
    stream = pool.stream(clip(sample_no_bframes, "0", "30", mode="pipe"))
    await stream.open()
    reached = asyncio.Event()
    pids: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                yield chunk
        finally:
            stream.close()

    async def respond() -> None:
        got = 0
        async for chunk in body():
            got += len(chunk)
            if got >= STOP_AFTER and not reached.is_set():
                pids.extend(pool.status().pids)
                reached.set()
                await asyncio.sleep(3600)  # send() to a client that stopped reading

    task = asyncio.create_task(respond())
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [pid] = pids
    await eventually(lambda: not pid_alive(pid) and pool.status().active == 0, 2.0)
    assert pool.run_outcomes["client_gone"] == 1
    assert_nothing_cached(pool)


async def test_cancelling_open_kills_the_whole_process_group(
    make_pool: MakePool,
    sample_no_bframes: Path,
    wrapper_script: Callable[[str, str], str],
) -> None:
    # A "ffmpeg" that is slow to start: a shell whose child (sleep) shares its group.
    slow = wrapper_script("slow-ffmpeg", 'sleep 30\nexec "$REAL" "$@"')
    pool = await make_pool(ffmpeg=slow)
    opening = asyncio.create_task(
        pool.stream(clip(sample_no_bframes, "0", "4", mode="pipe")).open()
    )
    await eventually(lambda: len(pool.status().pids) == 1, 2.0)
    [pgid] = pool.status().pids
    await eventually(lambda: len(group_members(pgid)) == 2, 2.0)  # sh and sleep
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    await eventually(lambda: group_members(pgid) == [] and pool.status().active == 0, 2.0)
    assert pool.run_outcomes["client_gone"] == 1
    assert_nothing_cached(pool)


async def test_a_forgotten_stream_is_closed_when_collected(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool(stream_buffer_bytes=64 * 1024)
    stream = pool.stream(clip(sample_no_bframes, "0", "30", mode="pipe"))
    pid = await read_until_stopped(pool, stream)
    del stream
    gc.collect()
    await eventually(lambda: not pid_alive(pid) and pool.status().active == 0, 2.0)
    assert_nothing_cached(pool)


async def test_a_late_joiner_gets_the_finished_file(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool(stream_buffer_bytes=64 * 1024)
    request = clip(sample_no_bframes, "0", "30", mode="pipe")
    first = pool.stream(request)
    await first.open()  # the run is going and waits for this reader

    second = pool.stream(request)
    joining = asyncio.create_task(second.open())
    await asyncio.sleep(0.2)
    assert not joining.done(), "the joiner waits for the file, not for a second run"
    body = await read_all(first)
    await joining
    assert second.path == pool.cache.path_for(request.cache_key)
    assert await read_all(second) == body
    assert pool.runs_started == 1


async def test_the_run_goes_on_for_a_joiner_when_its_first_reader_leaves(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool(stream_buffer_bytes=64 * 1024)
    request = clip(sample_no_bframes, "0", "30", mode="pipe")
    first = pool.stream(request)
    await read_until_stopped(pool, first)
    joiner = asyncio.create_task(pool.get_file(request))
    await asyncio.sleep(0.05)
    await first.aclose()  # the first client leaves; the joiner still wants the clip
    path = await joiner
    assert path.stat().st_size > STOP_AFTER
    assert pool.runs_started == 1
    assert pool.run_outcomes["ok"] == 1
    assert pool.cached(request) == path


async def test_without_disk_room_streams_are_not_cached(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool(cache_min_free_bytes=1 << 62)  # more than any disk has
    request = clip(sample_no_bframes, "2", "6", mode="pipe")
    assert len(await read_all(pool.stream(request))) > 0
    assert_nothing_cached(pool)
    with pytest.raises(CacheFull):
        await pool.get_file(clip(sample_no_bframes, "2", "6"))


async def test_a_source_that_will_not_open_fails_at_open(
    make_pool: MakePool, sample_no_bframes: Path, tmp_path: Path
) -> None:
    pool = await make_pool()
    request = clip(sample_no_bframes, "0", "4", mode="pipe", source_input=f"file:{tmp_path}/no")
    stream = pool.stream(request)
    with pytest.raises(SourceUnavailable):
        await stream.open()
    assert [chunk async for chunk in stream] == []  # a failed stream is closed
    assert_nothing_cached(pool)


async def test_open_raises_saturated_before_any_byte(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool(max_processes=1, queue_timeout_s=0, stream_buffer_bytes=64 * 1024)
    async with pool.stream(clip(sample_no_bframes, "0", "30", mode="pipe", clip_id=1)):
        with pytest.raises(Saturated):
            await pool.stream(clip(sample_no_bframes, "0", "30", mode="pipe", clip_id=2)).open()
    await eventually(lambda: pool.status().active == 0 and not ffmpeg_children(), 2.0)


async def test_a_full_cache_disk_does_not_break_the_stream(
    make_pool: MakePool, sample_no_bframes: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = await make_pool()

    def temp_on_a_full_disk(key: str) -> Path:
        link = cache_dir / f"{key}.full.tmp"
        link.symlink_to("/dev/full")  # every write fails with ENOSPC
        return link

    monkeypatch.setattr(pool.cache, "new_temp", temp_on_a_full_disk)
    request = clip(sample_no_bframes, "2", "6", mode="pipe")
    body = await read_all(pool.stream(request))
    assert_nothing_cached(pool)  # and the symlink is gone, /dev/full untouched
    assert await read_all(pool.stream(request)) == body  # complete: same bytes again
    assert pool.runs_started == 2
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
