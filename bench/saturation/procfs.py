"""What the kernel says about the run (Linux /proc): CPU time, threads' scheduling, ffmpeg."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

QUIET_BUSY = 0.2  # a phase starts once the CPUs are less busy than this for a second …
QUIET_WAIT_S = 60.0  # … or after this long, with a warning
AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


@dataclass(frozen=True)
class Sched:
    """Threads' time on a CPU and waiting in a run queue for one (ns), and their wake-ups."""

    run_ns: int = 0
    wait_ns: int = 0
    slices: int = 0

    def __add__(self, other: Sched) -> Sched:
        return Sched(
            self.run_ns + other.run_ns, self.wait_ns + other.wait_ns, self.slices + other.slices
        )

    def __sub__(self, other: Sched) -> Sched:
        return Sched(
            self.run_ns - other.run_ns, self.wait_ns - other.wait_ns, self.slices - other.slices
        )


def cpu_times() -> list[int]:
    """The aggregate line of /proc/stat: user nice system idle iowait irq softirq steal."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def cpu_busy(before: Sequence[int], after: Sequence[int]) -> tuple[float, float]:
    """Between two :func:`cpu_times`: the fraction of CPU time not idle, and the niced one."""
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = max(sum(delta), 1)
    return 1 - (delta[3] + delta[4]) / total, delta[1] / total  # idle + iowait; nice


def wait_quiet() -> float:
    """Wait, up to QUIET_WAIT_S, for a second in which the CPUs are mostly idle; its busy share.

    Other work on the machine (a test run, the previous phase's last cuts)
    would otherwise land in the next phase, the idle one above all.
    """
    deadline = time.monotonic() + QUIET_WAIT_S
    while True:
        before = cpu_times()
        time.sleep(1)
        busy = cpu_busy(before, cpu_times())[0]
        if busy < QUIET_BUSY or time.monotonic() > deadline:
            return busy


def read_sched(task: Path) -> Sched:
    """A thread's ``schedstat`` (``/proc/<pid>/task/<tid>`` or ``/proc/thread-self``)."""
    run, waited, slices = (int(v) for v in (task / "schedstat").read_text().split())
    return Sched(run, waited, slices)


def thread_scheds(pid: int) -> dict[int, Sched]:
    """tid → :class:`Sched` of every thread of ``pid``."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that has just ended
            out[int(task.name)] = read_sched(task)
    return out


def server_pid(port: int) -> int:
    """The pid of the ``origin serve --port <port>`` that ``bench.runner.origin.serve`` started."""
    tail = [b"serve", b"--port", str(port).encode()]
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):  # not a process, or gone
            if (
                entry.name.isdigit()
                and (entry / "cmdline").read_bytes().split(b"\0")[-4:-1] == tail
            ):
                return int(entry.name)
    raise RuntimeError(f"no `origin serve` process on port {port}")


def _autogroup(pid: int) -> str:
    # "/autogroup-123 nice 0": the scheduler's group for the process's session.
    return Path(f"/proc/{pid}/autogroup").read_text().split()[0]


def ffmpeg_children(pid: int) -> tuple[int, int]:
    """How many ffmpeg children ``pid`` has, and how many of them run niced in its autogroup.

    With ``kernel.sched_autogroup_enabled``, CPU time is shared between
    sessions first and a process's nice value only ranks it within its own
    session's group: the pool keeps ffmpeg in the server's session, niced
    (pool/priority.py).
    """
    if not AUTOGROUP.exists():  # a kernel without autogroups: nothing to tell
        return 0, 0
    total = niced = 0
    server_group = _autogroup(pid)
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):  # not a process, or gone
            comm, _, fields = (entry / "stat").read_text().partition(" (")[2].rpartition(") ")
            # The wheel's binary is ffmpeg-linux-x86_64-v…; comm keeps 15 characters.
            if comm.startswith("ffmpeg") and int(fields.split()[1]) == pid:
                total += 1
                niced += int(fields.split()[16]) > 0 and _autogroup(int(entry.name)) == server_group
    return total, niced
