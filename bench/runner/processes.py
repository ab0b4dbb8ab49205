"""Processes: free ports, servers run in the background, and the benchmark's own process."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TypeVar

from bench.runner.timing import fetch

Measured = TypeVar("Measured")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path, path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited; its log:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(OSError, RuntimeError):
            fetch(port, path)
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within 60 s; see {log}")


@contextlib.contextmanager
def spawned(
    argv: Sequence[str], *, log: Path, env: Mapping[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (output to ``log``) until the block ends; then stop it (TERM, then KILL)."""
    with log.open("wb") as out:
        # Its own session: a Ctrl-C reaches only us, and we stop it in order.
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=dict(env), start_new_session=True
        )
    try:
        yield process
    finally:
        _stop(process)


@contextlib.contextmanager
def background(
    argv: Sequence[str], *, port: int, log: Path, ready_path: str, env: Mapping[str, str]
) -> Iterator[None]:
    """Run a server until the block ends; it is ready once ``ready_path`` answers 200."""
    with spawned(argv, log=log, env=env) as process:
        _wait_listening(port, process, log, ready_path)
        yield


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the `finally`s that stop our processes


def run_benchmark(
    measure: Callable[[], Measured],
    render: Callable[[Measured, float], str],
    write: Callable[[str], None],
) -> int:
    """Measure, render what was measured with the run's seconds, write and print it.

    SIGTERM and Ctrl-C stop the run through the ``finally``s that stop its
    servers; Ctrl-C exits 130 and writes nothing. The exit status.
    """
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    started = time.monotonic()
    try:
        measured = measure()
    except KeyboardInterrupt:
        return 130
    text = render(measured, time.monotonic() - started)
    write(text)
    print(text)
    return 0
