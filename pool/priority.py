"""The CPU priority of an ffmpeg process group, so that the server stays responsive.

The whole process group runs at a lower CPU priority (``nice``) than the
server when asked: with every core encoding, the event loop still gets the CPU
it needs to answer cache hits, redirects and 429s on time. With the kernel's
autogroup scheduling (``kernel.sched_autogroup_enabled``, on in most
distributions) each session is scheduled as one group with an equal share
whatever the niceness inside it, so the new session's autogroup gets the
same nice value: without it an ffmpeg weighed as much as the whole server.
(A process group without a session would avoid the autogroup, but uvloop,
which uvicorn uses, refuses ``process_group``.)
"""

from __future__ import annotations

import contextlib
import os


def lower_priority(pid: int, nice: int) -> None:
    """Make process group ``pid`` (and its autogroup, if any) ``nice`` nicer than us.

    Going back to a lower niceness needs CAP_SYS_NICE: without it the group
    stays where it is (PermissionError is ignored like a process that exited).
    """
    niceness = min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # exited; not allowed
        os.setpriority(os.PRIO_PGRP, pid, niceness)
    # Absent without CONFIG_SCHED_AUTOGROUP; gone if the process already exited.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/autogroup", "w") as autogroup:
        autogroup.write(str(niceness))
