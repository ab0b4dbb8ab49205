"""What the pool answers besides a stream: a finished clip file (and how it was found), a status."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CacheOutcome = Literal["hit", "miss", "coalesced", "uncached", "store"]


@dataclass(frozen=True)
class FetchedFile:
    """A finished clip file and how it was obtained."""

    path: Path
    # hit: on disk; miss: this call cut it; coalesced: joined a run; store:
    # copied from the shared clip store, no cut; uncached: cut for this
    # caller alone, below the disk floor (transient)
    cache: CacheOutcome

    @property
    def transient(self) -> bool:
        """True for a file that is not in the cache: serve it once, then discard it."""
        return self.cache == "uncached"


@dataclass(frozen=True)
class PoolStatus:
    """A snapshot for health checks and metrics."""

    active: int  # slots held (= live ffmpeg processes, reaping included)
    max: int
    waiting: int  # request runs queued for a slot
    active_background: int  # slots held by background (warming) runs
    waiting_background: int  # background runs queued for an idle slot
    pids: tuple[int, ...]  # live ffmpeg process ids (for RSS from /proc)
    in_flight: int  # runs started and not finished, queued ones included
    cache_files: int
    cache_bytes: int
