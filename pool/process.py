"""Run one ffmpeg process: spawn, read its output, time it out, kill it, always reap it.

The process is started without forking the server (pool/child.py), in a
process group of its own, so a kill reaches anything it started, and runs at
the priority asked for (pool/priority.py); a kill is waited for even by a
cancelled caller (pool/uncancellable.py).

stderr goes to an unlinked temporary file rather than a pipe: nothing has to
drain it while ffmpeg runs, and only its last few KB are read at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from pool.child import Child, spawn_child
from pool.errors import scrub
from pool.priority import lower_priority
from pool.uncancellable import await_uncancellable, spawn_detached

Outcome = Literal["ok", "failed", "timeout", "killed", "client_gone", "preempted"]

KILL_GRACE_S = 1.0
CHUNK_BYTES = 64 * 1024
STDERR_TAIL_BYTES = 4096
_STARTUP_POLL_S = 0.005


@dataclass(frozen=True)
class RunResult:
    """What one ffmpeg run did and cost."""

    pid: int
    outcome: Outcome
    exit_status: int | None  # negative: ended by that signal
    startup_s: float | None  # spawn → first output byte; None if it wrote nothing
    run_s: float  # spawn → reaped
    bytes_out: int  # bytes ffmpeg wrote to its output (pipe) or file size (file)
    stderr_tail: str  # last few KB of stderr

    @property
    def last_stderr_line(self) -> str:
        """The last non-empty stderr line: usually ffmpeg's reason for failing."""
        lines = [line.strip() for line in self.stderr_tail.splitlines() if line.strip()]
        return lines[-1] if lines else ""


class FfmpegProcess:
    """One running ffmpeg. Create it with :meth:`spawn` or :func:`ffmpeg_process`.

    In pipe mode call :meth:`read` until it returns ``b""``, then :meth:`wait`.
    In file mode (``watch_file`` set) just call :meth:`wait`; the file's first
    byte marks start-up. :meth:`stop` kills; every method is safe after exit.
    """

    def __init__(
        self,
        proc: Child,
        stderr_file: IO[bytes],
        *,
        spawned_at: float,
        deadline: float | None,
        timeout_s: float | None,
        watch_file: Path | None,
    ) -> None:
        self._proc = proc
        self._stderr = stderr_file
        self._spawned_at = spawned_at
        self._deadline = deadline
        self.timeout_s = timeout_s
        self._watch_file = watch_file
        self._first_byte_at: float | None = None
        self._bytes_out = 0
        self._stopping: asyncio.Task[RunResult] | None = None
        self.result: RunResult | None = None

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        timeout_s: float | None,
        pipe_stdout: bool,
        watch_file: Path | None = None,
        nice: int = 0,
    ) -> FfmpegProcess:
        """Start ``argv`` in a process group of its own; the hard timeout runs from now.

        ``nice`` is added to the process's niceness right after the spawn. The
        whole process group is changed, so any thread that already exists is
        covered, and threads started later inherit it from the main thread.
        """
        # Closed by _finish (or below if the spawn fails), not by a with-block:
        # it outlives this call.
        stderr_file = tempfile.TemporaryFile(prefix="ffmpeg-stderr-")  # noqa: SIM115
        spawned_at = asyncio.get_running_loop().time()
        try:
            proc = spawn_child(argv, stdout_pipe=pipe_stdout, stderr=stderr_file)
        except BaseException:
            stderr_file.close()
            raise
        if nice:
            lower_priority(proc.pid, nice)
        return cls(
            proc,
            stderr_file,
            spawned_at=spawned_at,
            deadline=None if timeout_s is None else spawned_at + timeout_s,
            timeout_s=timeout_s,
            watch_file=watch_file,
        )

    def pause(self) -> None:
        """Stop the whole process group (SIGSTOP) until :meth:`resume`; the timeout runs on."""
        self._proc.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process group go on (SIGCONT)."""
        self._proc.signal_group(signal.SIGCONT)

    def renice(self, nice: int) -> None:
        """Set the process group's niceness to ``nice`` more than ours (see :meth:`spawn`)."""
        if self.result is None:
            lower_priority(self._proc.pid, nice)

    @property
    def pid(self) -> int:
        """The process id (also its process-group id)."""
        return self._proc.pid

    @property
    def running(self) -> bool:
        """True until the process has been reaped."""
        return self.result is None

    async def read(self, size: int = CHUNK_BYTES) -> bytes:
        """Next chunk of stdout, ``b""`` at the end (or after a timeout, which kills it)."""
        if self.result is not None:
            return b""
        try:
            async with asyncio.timeout_at(self._deadline):
                chunk = await self._proc.read(size)
        except TimeoutError:
            await self.stop("timeout")
            return b""
        self._count(len(chunk))
        return chunk

    async def wait(self) -> RunResult:
        """Wait for exit (discarding unread stdout); on the hard timeout, kill instead."""
        if self.result is not None:
            return self.result
        try:
            async with asyncio.timeout_at(self._deadline):
                if self._watch_file is not None:
                    await self._watch_startup(self._watch_file)
                exit_status = await self._drain_and_wait()
        except TimeoutError:
            return await self.stop("timeout")
        return self._finish("ok" if exit_status == 0 else "failed")

    async def stop(self, outcome: Outcome = "killed") -> RunResult:
        """Kill the process group (TERM, grace, KILL) and reap it; idempotent.

        Returns once the process has been reaped, even if the caller is
        cancelled meanwhile (the cancellation is re-raised afterwards).
        """
        if self.result is not None:
            return self.result
        if self._stopping is None:
            self._stopping = spawn_detached(self._terminate_and_reap(outcome))
        return await await_uncancellable(self._stopping)

    # -- internals ---------------------------------------------------------

    def _count(self, nbytes: int) -> None:
        if nbytes and self._first_byte_at is None:
            self._first_byte_at = asyncio.get_running_loop().time()
        self._bytes_out += nbytes

    async def _drain_and_wait(self) -> int:
        # A process blocked on a full pipe never exits: read to the end first.
        while chunk := await self._proc.read(CHUNK_BYTES):
            self._count(len(chunk))
        return await self._proc.wait()

    async def _watch_startup(self, path: Path) -> None:
        """Poll ``path`` until its first byte appears or the process exits."""
        exited = asyncio.ensure_future(self._proc.wait())
        try:
            while not exited.done():
                await asyncio.wait({exited}, timeout=_STARTUP_POLL_S)
                with contextlib.suppress(OSError):
                    # One stat per poll, only until the first byte: cheap enough inline.
                    if os.stat(path).st_size > 0:
                        self._first_byte_at = asyncio.get_running_loop().time()
                        return
        finally:
            if not exited.done():
                exited.cancel()

    async def _terminate_and_reap(self, outcome: Outcome) -> RunResult:
        self._proc.signal_group(signal.SIGTERM)
        self._proc.signal_group(signal.SIGCONT)  # a paused group acts on TERM only once resumed
        try:
            async with asyncio.timeout(KILL_GRACE_S):
                await self._drain_and_wait()
        except TimeoutError:
            self._proc.signal_group(signal.SIGKILL)
            await self._drain_and_wait()
        return self._finish(outcome)

    def _finish(self, outcome: Outcome) -> RunResult:
        if self.result is not None:
            return self.result
        now = asyncio.get_running_loop().time()
        startup_s: float | None = None
        bytes_out = self._bytes_out
        if self._watch_file is not None:
            with contextlib.suppress(OSError):
                bytes_out = self._watch_file.stat().st_size
            if bytes_out and self._first_byte_at is None:
                self._first_byte_at = now  # it exited before the first poll saw the file
        if self._first_byte_at is not None:
            startup_s = self._first_byte_at - self._spawned_at
        self.result = RunResult(
            pid=self._proc.pid,
            outcome=outcome,
            exit_status=self._proc.returncode,
            startup_s=startup_s,
            run_s=now - self._spawned_at,
            bytes_out=bytes_out,
            stderr_tail=self._read_stderr_tail(),
        )
        return self.result

    def _read_stderr_tail(self) -> str:
        try:
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - STDERR_TAIL_BYTES))
            # Scrubbed: the tail reaches logs and metrics, and a presigned
            # source URL in it would carry a live signature.
            return scrub(self._stderr.read().decode(errors="replace"))
        except (OSError, ValueError):
            return ""
        finally:
            self._stderr.close()


@contextlib.asynccontextmanager
async def ffmpeg_process(
    argv: Sequence[str],
    *,
    timeout_s: float | None,
    pipe_stdout: bool,
    watch_file: Path | None = None,
) -> AsyncIterator[FfmpegProcess]:
    """Spawn ffmpeg for the block; leaving it stops (if still running) and reaps the process."""
    process = await FfmpegProcess.spawn(
        argv, timeout_s=timeout_s, pipe_stdout=pipe_stdout, watch_file=watch_file
    )
    try:
        yield process
    finally:
        await process.stop("killed")
