"""The CPU priority of an ffmpeg process, so that the server stays responsive.

ffmpeg runs at a lower CPU priority (``nice``) than the server when asked:
with every core encoding, the event loop still gets the CPU it needs to answer
cache hits, redirects and 429s on time.

It gets a process group of its own (so that a signal reaches all of it, and a
Ctrl-C at the terminal reaches only the server) but stays in the server's
session. With the kernel's autogroup scheduling
(``kernel.sched_autogroup_enabled``, on in most distributions outside
containers) each session is scheduled as one group, and a nice value ranks a
thread only within its group. In a session of its own, even with that
session's group niced, ffmpeg made the event loop wait for a CPU two to three
times as often as it does among the server's threads: under
bench.responsiveness, ``perf sched`` counted waits over 3 ms on 1.4-2.0% of
the loop's wake-ups, against 0.65-1.0% in the server's group.

The niceness is set right after the spawn, on the whole process group: ffmpeg
starts its threads later, from its main thread, and they inherit it.
"""

from __future__ import annotations

import contextlib
import os


def lower_priority(pid: int, nice: int) -> None:
    """Make every thread of process group ``pid`` ``nice`` nicer than us.

    Going back to a lower niceness needs CAP_SYS_NICE: without it the group
    stays where it is (PermissionError is ignored like a process that exited).
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):  # exited; not allowed
        os.setpriority(os.PRIO_PGRP, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
