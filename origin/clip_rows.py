"""Recently read clip rows: the database stays out of a cache hit's path, and out of an outage's.

A stream or thumbnail request needs its clip's row (range, version) and its
source's row (location, identity) before it can find the clip file. Both are
kept here after each read, in a bounded LRU, and used:

- **fresh** (read less than ``fresh_s`` ago): instead of asking the database,
  unless the request names a newer version than the row (an edit on another
  replica), which always asks;
- **stale** (read less than ``stale_s`` ago): only when the database cannot
  answer, and then only to serve a file the clip cache already holds.

Staleness bound: a replica may answer a version up to ``fresh_s`` after an
edit on another replica superseded it, and up to ``stale_s`` while the
database is down, with that version's own (correct, immutable) bytes where
an up-to-date replica would redirect to the new version. Edits made through
this replica's API drop the rows they change at once.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from db.records import ClipRecord, SourceRecord


@dataclass(frozen=True)
class ClipRow:
    """A clip's row, its source's row, and when they were read."""

    clip: ClipRecord
    source: SourceRecord
    read_at: float


class ClipRows:
    """A bounded, time-limited map of clip id → :class:`ClipRow`. Event-loop use only."""

    def __init__(
        self,
        *,
        fresh_s: float,
        stale_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fresh_s = fresh_s
        self.stale_s = max(stale_s, fresh_s)
        self.max_entries = max_entries
        self._clock = clock
        self._rows: collections.OrderedDict[int, ClipRow] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def fresh(self, clip_id: int, version: int) -> ClipRow | None:
        """The row if it was read within ``fresh_s`` and knows ``version``."""
        return self._usable(clip_id, version, self.fresh_s)

    def stale(self, clip_id: int, version: int) -> ClipRow | None:
        """The row if it was read within ``stale_s`` and knows ``version`` (database down)."""
        return self._usable(clip_id, version, self.stale_s)

    def remember(self, clip: ClipRecord, source: SourceRecord) -> None:
        """Keep the rows just read; the least recently used entry goes when full."""
        self._rows[clip.id] = ClipRow(clip, source, self._clock())
        self._rows.move_to_end(clip.id)
        while len(self._rows) > self.max_entries:
            self._rows.popitem(last=False)

    def forget(self, clip_ids: Iterable[int]) -> None:
        """Drop rows that an edit changed or a lookup found gone."""
        for clip_id in clip_ids:
            self._rows.pop(clip_id, None)

    def _usable(self, clip_id: int, version: int, max_age_s: float) -> ClipRow | None:
        row = self._rows.get(clip_id)
        if row is None:
            return None
        age = self._clock() - row.read_at
        if age >= max_age_s:
            if age >= self.stale_s:
                del self._rows[clip_id]  # too old to be of any use
            return None
        if version > row.clip.version:
            return None  # edited elsewhere since: only the database knows
        self._rows.move_to_end(clip_id)
        return row
