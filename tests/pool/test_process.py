"""One process: output, measurement, kill escalation, reaping under cancellation."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pool.argv import PIPE_OUTPUT, build_clip_argv
from pool.process import KILL_GRACE_S, STDERR_TAIL_BYTES, FfmpegProcess, ffmpeg_process
from tests.pool.conftest import clip, eventually, ffmpeg_children, group_members, pid_alive

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_ffmpeg_children")]

Wrapper = Callable[[str, str], str]


async def test_pipe_run_is_measured(ffmpeg: str, sample_no_bframes: Path) -> None:
    argv = build_clip_argv(ffmpeg, clip(sample_no_bframes, "2", "6", mode="pipe"), PIPE_OUTPUT)
    async with ffmpeg_process(argv, timeout_s=30, pipe_stdout=True) as process:
        total = 0
        while chunk := await process.read():
            total += len(chunk)
        result = await process.wait()
    assert result.outcome == "ok"
    assert result.exit_status == 0
    assert result.bytes_out == total > 0
    assert result.startup_s is not None
    assert 0 < result.startup_s <= result.run_s
    assert result.stderr_tail == ""
    assert not pid_alive(result.pid)


async def test_stderr_tail_is_bounded(wrapper_script: Wrapper) -> None:
    noisy = wrapper_script(
        "noisy-ffmpeg",
        'i=0; while [ $i -lt 3000 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 1',
    )
    async with ffmpeg_process([noisy], timeout_s=30, pipe_stdout=True) as process:
        result = await process.wait()
    assert result.outcome == "failed"
    assert result.exit_status == 1
    assert len(result.stderr_tail) <= STDERR_TAIL_BYTES
    assert result.last_stderr_line == "line 2999"
    assert result.startup_s is None
    assert result.bytes_out == 0


async def test_sigterm_ignored_means_sigkill_after_the_grace(wrapper_script: Wrapper) -> None:
    stubborn = wrapper_script("stubborn-ffmpeg", "trap '' TERM\nsleep 30")
    process = await FfmpegProcess.spawn([stubborn], timeout_s=None, pipe_stdout=True)
    await asyncio.sleep(0.1)  # let the shell install its trap
    started = time.monotonic()
    result = await process.stop()
    took = time.monotonic() - started
    assert KILL_GRACE_S <= took < KILL_GRACE_S + 1.0
    assert result.outcome == "killed"
    assert result.exit_status == -9
    await eventually(lambda: group_members(result.pid) == [], timeout_s=1.0)


async def test_stop_reaps_even_if_the_caller_is_cancelled_repeatedly(
    wrapper_script: Wrapper,
) -> None:
    stubborn = wrapper_script("stubborn-ffmpeg", "trap '' TERM\nsleep 30")
    process = await FfmpegProcess.spawn([stubborn], timeout_s=None, pipe_stdout=True)
    await asyncio.sleep(0.1)
    reaped_when_stop_returned: list[bool] = []

    async def stopper() -> None:
        try:
            await process.stop()
        finally:
            reaped_when_stop_returned.append(process.result is not None)

    task = asyncio.create_task(stopper())
    for _ in range(5):
        await asyncio.sleep(0.05)
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reaped_when_stop_returned == [True]
    assert not pid_alive(process.pid)
    assert process.result is not None
    assert process.result.outcome == "killed"


async def test_timeout_while_reading(wrapper_script: Wrapper) -> None:
    hanging = wrapper_script("hanging-ffmpeg", "sleep 30")
    async with ffmpeg_process([hanging], timeout_s=0.2, pipe_stdout=True) as process:
        assert await process.read() == b""
        result = await process.wait()
    assert result.outcome == "timeout"
    assert 0.2 <= result.run_s < 0.2 + KILL_GRACE_S
    # The group was SIGKILLed; a busy machine may schedule the grandchild's death a moment later.
    await eventually(lambda: group_members(result.pid) == [], timeout_s=1.0)


async def test_leaving_the_block_early_kills_the_process(
    ffmpeg: str, sample_no_bframes: Path
) -> None:
    argv = build_clip_argv(ffmpeg, clip(sample_no_bframes, "0", "30", mode="pipe"), PIPE_OUTPUT)
    async with ffmpeg_process(argv, timeout_s=30, pipe_stdout=True) as process:
        assert await process.read()
    assert process.result is not None
    assert process.result.outcome == "killed"
    assert ffmpeg_children() == []


async def test_file_mode_measures_the_output_file(
    ffmpeg: str, sample_no_bframes: Path, tmp_path: Path
) -> None:
    output = tmp_path / "clip.mp4"
    argv = build_clip_argv(ffmpeg, clip(sample_no_bframes, "2", "6"), f"file:{output}")
    async with ffmpeg_process(argv, timeout_s=30, pipe_stdout=False, watch_file=output) as process:
        result = await process.wait()
    assert result.outcome == "ok"
    assert result.bytes_out == output.stat().st_size > 0
    assert result.startup_s is not None
    assert 0 < result.startup_s <= result.run_s


def _thread_niceness(pid: int) -> list[int]:
    """The niceness of each thread of process ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        found.append(int(stat[stat.rindex(")") + 2 :].split()[16]))
    return found


def _autogroup(pid: int) -> str | None:
    """``pid``'s autogroup ("/autogroup-12 nice 0"); None without autogroup scheduling."""
    autogroup = Path(f"/proc/{pid}/autogroup")
    return autogroup.read_text() if autogroup.exists() else None


async def test_ffmpeg_and_its_threads_run_nicer_in_our_autogroup(
    ffmpeg: str, sample_no_bframes: Path
) -> None:
    # A re-encode, so ffmpeg starts its codec threads after the spawn.
    argv = [
        ffmpeg, "-nostdin", "-v", "error", "-re", "-i", str(sample_no_bframes),
        "-c:v", "libx264", "-threads", "2", "-f", "null", "-",
    ]  # fmt: skip
    process = await FfmpegProcess.spawn(argv, timeout_s=30, pipe_stdout=False, nice=7)
    try:
        await asyncio.sleep(0.5)
        niceness = _thread_niceness(process.pid)
        assert len(niceness) > 1
        assert set(niceness) == {7}
        assert os.getpgid(process.pid) == process.pid
        # A session of its own would be scheduled as a group of its own
        # (autogroup), where its nice value ranks it against nothing of ours.
        assert os.getsid(process.pid) == os.getsid(0)
        assert _autogroup(process.pid) == _autogroup(os.getpid())
    finally:
        await process.stop()
