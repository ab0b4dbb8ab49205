"""The CPU priority of an ffmpeg process, so that the server stays responsive.

ffmpeg runs at a lower CPU priority (``nice``) than the server when asked:
with every core encoding, the event loop still gets the CPU it needs to answer
cache hits, redirects and 429s on time.

It gets a process group of its own (so that a signal reaches all of it, and a
Ctrl-C at the terminal reaches only the server) but stays in the server's
session. With the kernel's autogroup scheduling
(``kernel.sched_autogroup_enabled``, on in most distributions outside
containers) each session is scheduled as one group, and a nice value ranks a
thread only within its group. In the server's group, the niced encoder threads
give way to the event loop at once. In a session of its own, even with that
session's group niced, the encoders made the event loop wait for a CPU more
often: under bench.responsiveness, ``perf sched`` counted waits over 3 ms on
1.4-2.0% of the loop's wake-ups, against 0.65% in the server's group.

The group and niceness are set in the child before it runs ffmpeg
(``preexec_fn``; uvloop, which uvicorn uses, refuses ``process_group``), so no
ffmpeg thread ever runs at the server's priority.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable


def _niceness(nice: int) -> int:
    """The niceness ``nice`` steps nicer than this process's (19 at most)."""
    return min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice)


def own_group_at(nice: int) -> Callable[[], None]:
    """What a new child runs before exec: a process group of its own, ``nice`` nicer than us.

    The returned function runs in the forked child of a threaded process, so
    it makes system calls only: no locks, no logging, no imports.
    """
    niceness = _niceness(nice)

    def setup() -> None:
        os.setpgid(0, 0)
        if nice:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)

    return setup


def lower_priority(pid: int, nice: int) -> None:
    """Make every thread of process group ``pid`` ``nice`` nicer than us.

    Going back to a lower niceness needs CAP_SYS_NICE: without it the group
    stays where it is (PermissionError is ignored like a process that exited).
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):  # exited; not allowed
        os.setpriority(os.PRIO_PGRP, pid, _niceness(nice))
