"""Start a child process without forking the server, and watch it on the event loop.

uvloop, the loop uvicorn runs on, starts a subprocess with a real ``fork()``:
the kernel copies the page tables of the whole server while the event loop
waits. That grows with the server's memory: 6 ms at 50 MB resident and 20 ms
at 400 MB on this machine, idle; with the CPUs busy encoding, a watchdog on
the loop saw it stall 7-19 ms at each ffmpeg start. CPython's ``subprocess``
uses ``vfork()`` instead (0.2-0.4 ms whatever the size), so the child is
started with it; its stdout is read and its exit watched (through a pidfd,
Linux 5.3+) with the running loop's readers, whatever the loop is. Where
``pidfd_open`` is refused (an older container runtime's seccomp profile), a
thread of the child's own waits for it instead, as asyncio's
ThreadedChildWatcher does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from typing import IO


class Child:
    """A running child: its pid, its stdout in chunks, and its exit as an awaitable."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        try:
            pidfd = os.pidfd_open(popen.pid)
        except OSError:
            threading.Thread(target=self._wait_in_thread, daemon=True).start()
        else:
            self._loop.add_reader(pidfd, self._reap, pidfd)
        if popen.stdout is not None:
            os.set_blocking(popen.stdout.fileno(), False)

    @property
    def pid(self) -> int:
        """The process id (also its process-group id)."""
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """None until reaped; then the exit status, or minus the signal that ended it."""
        return self._popen.returncode

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of stdout as soon as some are there; ``b""`` at its end
        (and always, without a stdout pipe)."""
        stdout = self._popen.stdout
        if stdout is None or stdout.closed:
            return b""
        fd = stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, size)
            except BlockingIOError:
                readable = self._loop.create_future()
                self._loop.add_reader(fd, readable.set_result, None)
                try:
                    await readable
                finally:
                    self._loop.remove_reader(fd)
                continue
            if not chunk:
                stdout.close()
            return chunk

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the child's process group, unless the child has been reaped."""
        # Once reaped, its pid could be someone else's.
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):  # gone; not ours
                os.killpg(self.pid, signum)

    async def wait(self) -> int:
        """Wait for the child to exit and be reaped; return :attr:`returncode`."""
        return await asyncio.shield(self._exited)

    def _reap(self, pidfd: int) -> None:
        # The pidfd turns readable once the child has exited: waitpid returns at once.
        self._loop.remove_reader(pidfd)
        os.close(pidfd)
        self._exited.set_result(self._popen.wait())

    def _wait_in_thread(self) -> None:
        status = self._popen.wait()
        with contextlib.suppress(RuntimeError):  # the loop has been closed: nobody waits
            self._loop.call_soon_threadsafe(self._exited.set_result, status)


def spawn_child(argv: Sequence[str], *, stdout_pipe: bool, stderr: IO[bytes] | int) -> Child:
    """Start ``argv`` in a process group of its own, stdin from /dev/null.

    Call it from the event loop that will watch the child. It blocks only
    until the exec: vfork suspends the caller for a fraction of a
    millisecond. Raises OSError if the child cannot be started.
    """
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout_pipe else subprocess.DEVNULL,
        stderr=stderr,
        process_group=0,
    )
    try:
        return Child(popen)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()  # SIGKILLed: reaped at once
        if popen.stdout is not None:
            popen.stdout.close()
        raise
