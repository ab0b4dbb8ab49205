"""A child started without forking the server: output, exit, group; asyncio and uvloop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from pool.child import spawn_child
from tests.pool.conftest import group_members, pid_alive

Run = Callable[[Coroutine[Any, Any, Any]], Any]
LOOPS = [pytest.param(asyncio.run, id="asyncio"), pytest.param(uvloop.run, id="uvloop")]


@pytest.fixture
def forks() -> list[int]:
    """Counts the forks that copy this Python process (its at-fork hooks run for those)."""
    counted: list[int] = []
    os.register_at_fork(before=lambda: counted.append(1))  # stays registered: nobody looks
    return counted


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("run", LOOPS)
def test_stdout_is_read_to_its_end_and_the_exit_status_kept(run: Run) -> None:
    async def main() -> tuple[int, int, set[str]]:
        before = _open_fds()
        child = spawn_child(
            ["sh", "-c", "head -c 300000 /dev/zero; exit 3"],
            stdout_pipe=True,
            stderr=subprocess.DEVNULL,
        )
        total = 0
        while chunk := await child.read(65536):
            total += len(chunk)
        assert await child.read(65536) == b""
        status = await child.wait()
        return total, status, _open_fds() - before

    assert run(main()) == (300000, 3, set())  # pipe and pidfd closed


@pytest.mark.parametrize("run", LOOPS)
def test_kill_reaches_its_process_group_and_the_child_is_reaped(run: Run) -> None:
    async def main() -> tuple[int, int, int]:
        child = spawn_child(
            ["sh", "-c", "sleep 30 & exec sleep 30"], stdout_pipe=False, stderr=subprocess.DEVNULL
        )
        await asyncio.sleep(0.2)  # the shell has started its background sleep
        assert os.getpgid(child.pid) == child.pid
        assert len(group_members(child.pid)) == 2
        child.signal_group(signal.SIGKILL)
        return child.pid, await child.wait(), len(group_members(child.pid))

    pid, status, left = run(main())
    assert status == -9
    assert left == 0
    assert not pid_alive(pid)  # reaped, not a zombie


@pytest.mark.parametrize("run", LOOPS)
def test_a_child_that_cannot_start_is_an_oserror_and_leaves_nothing(run: Run) -> None:
    async def main() -> set[str]:
        before = _open_fds()
        with pytest.raises(FileNotFoundError):
            spawn_child(["/nonexistent/ffmpeg"], stdout_pipe=True, stderr=subprocess.DEVNULL)
        return _open_fds() - before

    assert run(main()) == set()


def test_the_server_is_not_forked_to_start_a_child(forks: list[int]) -> None:
    """uvloop's own subprocesses fork the whole server; ours are vforked (no at-fork hooks)."""

    async def ours() -> None:
        await spawn_child(["true"], stdout_pipe=False, stderr=subprocess.DEVNULL).wait()

    async def uvloops() -> None:
        await (await asyncio.create_subprocess_exec("true")).wait()

    uvloop.run(ours())
    assert forks == []
    uvloop.run(uvloops())  # the control: this is what the server did
    assert forks == [1]


@pytest.mark.parametrize("run", LOOPS)
def test_without_pidfd_open_a_thread_waits_for_the_child(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(pid: int) -> int:
        raise PermissionError(1, "Operation not permitted")  # as an old seccomp profile

    monkeypatch.setattr(os, "pidfd_open", refused)

    async def main() -> tuple[int, int]:
        child = spawn_child(["sh", "-c", "exit 5"], stdout_pipe=False, stderr=subprocess.DEVNULL)
        return child.pid, await child.wait()

    pid, status = run(main())
    assert status == 5
    assert not pid_alive(pid)
