"""What the kernel says about live ffmpeg processes (Linux /proc)."""

from __future__ import annotations

import os
from collections.abc import Iterable

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pids: Iterable[int]) -> int:
    """Sum of the resident memory of ``pids``; processes that are gone count 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as statm:
                total += int(statm.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue
    return total
