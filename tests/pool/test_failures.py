"""Runs that die, hang or are cut short: typed errors, nothing cached, nothing left running."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pool.errors import PoolClosed, RunFailed, RunTimeout, SourceUnavailable
from tests.pool.conftest import MakePool, clip, eventually, group_members, pid_alive

pytestmark = pytest.mark.anyio

Wrapper = Callable[[str, str], str]


def pid_gone(pid: int) -> bool:
    return not pid_alive(pid)


def assert_no_clip_files(directory: Path) -> None:
    assert [p.name for p in directory.iterdir()] == []


async def test_ffmpeg_killed_mid_stream_fails_the_stream_and_caches_nothing(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool(stream_buffer_bytes=64 * 1024)
    request = clip(sample_no_bframes, "0", "30", mode="pipe")
    got = 0

    async def read_and_kill_midway() -> None:
        nonlocal got
        async with pool.stream(request) as stream:
            async for chunk in stream:
                got += len(chunk)
                if got >= 100_000 and pool.status().pids:
                    [pid] = pool.status().pids
                    os.kill(pid, signal.SIGKILL)  # the OOM killer, say
                    await eventually(functools.partial(pid_gone, pid), 2.0)

    with pytest.raises(RunFailed) as caught:
        await read_and_kill_midway()
    assert caught.value.exit_status == -signal.SIGKILL
    assert pool.run_outcomes["failed"] == 1
    assert_no_clip_files(pool.cache.directory)

    # The failure is not remembered: the next request cuts it again.
    async with pool.stream(request) as stream:
        assert sum([len(chunk) async for chunk in stream]) > got
    assert pool.cached(request) is not None


async def test_a_complete_file_is_not_cached_when_ffmpeg_dies_after_writing_it(
    make_pool: MakePool, sample_no_bframes: Path, wrapper_script: Wrapper
) -> None:
    # Writes the whole clip, then dies by SIGKILL: only exit status 0 may commit.
    dying = wrapper_script("dying-ffmpeg", '"$REAL" "$@"\nkill -KILL $$')
    pool = await make_pool(ffmpeg=dying)
    request = clip(sample_no_bframes, "2", "6")
    with pytest.raises(RunFailed) as caught:
        await pool.get_file(request)
    assert caught.value.exit_status == -signal.SIGKILL
    assert_no_clip_files(pool.cache.directory)


async def test_a_failed_run_does_not_poison_the_key(
    make_pool: MakePool, sample_no_bframes: Path, tmp_path: Path
) -> None:
    pool = await make_pool()
    good = clip(sample_no_bframes, "2", "6")
    broken_input = clip(sample_no_bframes, "2", "6", source_input=f"file:{tmp_path}/missing")
    assert broken_input.cache_key == good.cache_key
    with pytest.raises(SourceUnavailable):
        await pool.get_file(broken_input)
    assert (await pool.get_file(good)).stat().st_size > 0
    assert pool.runs_started == 2


async def test_nonzero_exit_is_run_failed_with_a_private_detail(
    make_pool: MakePool, sample_no_bframes: Path, wrapper_script: Wrapper
) -> None:
    failing = wrapper_script(
        "failing-ffmpeg",
        'echo "opening https://bucket/x.mp4?X-Amz-Signature=s3cr3t failed" >&2\nexit 3',
    )
    pool = await make_pool(ffmpeg=failing)
    with pytest.raises(RunFailed) as caught:
        await pool.get_file(clip(sample_no_bframes, "2", "6"))
    error = caught.value
    assert error.exit_status == 3
    assert str(error) == RunFailed.public_message
    assert "https://bucket/x.mp4" in error.detail
    assert "s3cr3t" not in error.detail


async def test_a_missing_binary_is_run_failed(
    make_pool: MakePool, sample_no_bframes: Path, tmp_path: Path
) -> None:
    pool = await make_pool(ffmpeg=str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(RunFailed):
        await pool.get_file(clip(sample_no_bframes, "2", "6"))
    assert pool.status().active == 0
    assert_no_clip_files(pool.cache.directory)


@pytest.mark.parametrize("mode", ["file", "pipe"])
async def test_the_run_timeout_kills_the_process_group(
    make_pool: MakePool, sample_no_bframes: Path, wrapper_script: Wrapper, mode: str
) -> None:
    hanging = wrapper_script("hanging-ffmpeg", 'sleep 30\nexec "$REAL" "$@"')
    results = []
    pool = await make_pool(
        ffmpeg=hanging, run_timeout_s=0.5, on_run=lambda _req, result: results.append(result)
    )
    request = clip(sample_no_bframes, "2", "6", mode="file" if mode == "file" else "pipe")
    attempt = pool.get_file(request) if mode == "file" else pool.stream(request).open()
    started = time.monotonic()
    with pytest.raises(RunTimeout):
        await attempt
    assert time.monotonic() - started < 0.5 + 2.0
    [result] = results
    assert result.outcome == "timeout"
    # The shell's child (sleep) went too. SIGKILL to a group returns before every
    # member has exited; only the direct child is reaped synchronously.
    await eventually(lambda: group_members(result.pid) == [], timeout_s=1.0)
    assert pool.status().active == 0
    assert_no_clip_files(pool.cache.directory)


async def test_close_kills_running_processes_and_fails_their_waiters(
    make_pool: MakePool, sample_no_bframes: Path, wrapper_script: Wrapper
) -> None:
    hanging = wrapper_script("hanging-ffmpeg", 'sleep 30\nexec "$REAL" "$@"')
    pool = await make_pool(ffmpeg=hanging, max_processes=2)
    waiters = [
        asyncio.create_task(pool.get_file(clip(sample_no_bframes, "2", "6", clip_id=i)))
        for i in range(3)  # two running, one queued
    ]
    await eventually(lambda: len(pool.status().pids) == 2 and pool.status().waiting == 1)
    pids = pool.status().pids
    started = time.monotonic()
    await pool.close()
    assert time.monotonic() - started < 2.0
    assert pool.status().pids == ()
    assert pool.status().active == 0
    for pid in pids:
        await eventually(lambda pid=pid: group_members(pid) == [], timeout_s=1.0)
    for waiter in waiters:
        with pytest.raises(PoolClosed):
            await waiter
    assert pool.run_outcomes["killed"] == 2
    with pytest.raises(PoolClosed):
        await pool.get_file(clip(sample_no_bframes, "2", "6"))
    assert_no_clip_files(pool.cache.directory)


async def test_close_with_a_deadline_lets_short_runs_finish(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool()
    request = clip(sample_no_bframes, "2", "6")
    waiter = asyncio.create_task(pool.get_file(request))
    await eventually(lambda: pool.status().in_flight == 1)
    await pool.close(deadline_s=10)
    assert (await waiter).stat().st_size > 0
    assert pool.run_outcomes["ok"] == 1


async def test_a_cancelled_waiter_leaves_the_file_run_going(
    make_pool: MakePool, sample_no_bframes: Path, wrapper_script: Wrapper
) -> None:
    slow = wrapper_script("slow-ffmpeg", 'sleep 0.3\nexec "$REAL" "$@"')
    pool = await make_pool(ffmpeg=slow)
    request = clip(sample_no_bframes, "2", "6")
    first = asyncio.create_task(pool.get_file(request))
    second = asyncio.create_task(pool.get_file(request))
    await eventually(lambda: pool.status().pids != ())
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    path = await second
    assert pool.runs_started == 1
    assert pool.run_outcomes["ok"] == 1
    assert pool.cached(request) == path


async def test_older_ffmpeg_wording_for_a_missing_source_is_recognised(
    make_pool: MakePool, sample_no_bframes: Path, wrapper_script: Wrapper
) -> None:
    # ffmpeg 5.x reports an input it cannot open as "<input>: <reason>", exit 1.
    old = wrapper_script(
        "old-ffmpeg", 'echo "file:/gone.mp4: No such file or directory" >&2\nexit 1'
    )
    pool = await make_pool(ffmpeg=old)
    with pytest.raises(SourceUnavailable):
        await pool.get_file(clip(sample_no_bframes, "2", "6", source_input="file:/gone.mp4"))
