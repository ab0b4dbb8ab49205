"""One cut per clip across the fleet: leases on cache keys, and waiting for another's cut.

Single flight (pool/coalesce.py) joins the requests of one process. Across
processes (replicas, workers) a :class:`CutLeases` says who is cutting a
clip: before cutting a clip the store does not have, a pool claims its lease;
if another process holds it, the pool waits for that cut to reach the store
and copies it, instead of cutting the same clip again. The holder gives the
lease back once the clip is in the store (or the cut failed).

Waiting is bounded by ``FLEET_WAIT_S``: a holder that died mid-cut, or whose
cut queues behind a busy server, costs a waiter at most that long before it
cuts the clip itself. Leases are an optimisation like the store: whatever
goes wrong with them ends in a cut, never in an error.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal, Protocol

from pool.shared_store import SharedStore

FLEET_WAIT_S = 10.0
_FIRST_PAUSE_S = 0.025
_LONGEST_PAUSE_S = 0.2

WaitOutcome = Literal["stored", "claimed", "gave_up"]


class CutLeases(Protocol):
    """Who is cutting which clip, fleet-wide (PostgreSQL in the origin)."""

    async def claim(self, key: str) -> bool:
        """Take the lease on ``key``; False if another process holds it.

        True also when the leases cannot be reached: then everyone cuts.
        """
        ...

    async def release(self, key: str) -> None:
        """Give the lease on ``key`` back; never raises."""
        ...


class Fleet:
    """The store and the leases as one pool sees them, with counters for metrics."""

    def __init__(self, store: SharedStore, leases: CutLeases | None) -> None:
        self.store = store
        self._leases = leases
        self._releasing: set[asyncio.Task[None]] = set()
        #: Cuts this pool waited for: found in the store, claimed after the
        #: holder gave up, or cut anyway after FLEET_WAIT_S.
        self.waits: dict[WaitOutcome, int] = {"stored": 0, "claimed": 0, "gave_up": 0}

    async def stored_or_claimed(self, key: str) -> Path | bool:
        """The clip from the store (a temp file), or whether we hold its lease to cut it.

        ``True``: cut it and :meth:`release` after writing it to the store.
        ``False``: cut it without a lease (no leases, or waited too long).
        """
        stored = await self.store.fetch(key)
        if stored is not None or self._leases is None:
            return stored or False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FLEET_WAIT_S
        pause = _FIRST_PAUSE_S
        waited = False
        while not await self._leases.claim(key):
            waited = True
            if loop.time() >= deadline:
                self.waits["gave_up"] += 1
                return False
            await asyncio.sleep(pause)
            pause = min(2 * pause, _LONGEST_PAUSE_S)
            if await self.store.contains(key) and (stored := await self.store.fetch(key)):
                self.waits["stored"] += 1
                return stored
        if waited:
            self.waits["claimed"] += 1
            try:
                # The holder may have stored it between our last look and our claim.
                stored = await self.store.fetch(key)
            except BaseException:
                self.release(key)
                raise
            if stored is not None:
                self.release(key)
                return stored
        return True

    def release(self, key: str) -> None:
        """Give the lease back in the background (callable from ``finally`` and callbacks)."""
        if self._leases is None:
            return
        task = asyncio.get_running_loop().create_task(self._leases.release(key))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def finish(self) -> None:
        """Wait for releases under way (shutdown)."""
        await asyncio.gather(*self._releasing, return_exceptions=True)
