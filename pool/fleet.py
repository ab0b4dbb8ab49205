"""One cut per clip across the fleet: leases on cache keys, and waiting for another's cut.

Single flight (pool/coalesce.py) joins the requests of one process. Across
processes (replicas, workers) a :class:`CutLeases` says who is cutting a
clip: a pool that has a slot to cut a clip the store does not have claims its
lease; if another process holds it, the pool gives the slot back, waits for
that cut to reach the store and copies it, instead of cutting the same clip
again. The holder gives the lease back once the clip is in the store (or the
cut failed).

The slot comes first so that a request refused one (a 429, under overload)
costs the database nothing, and a lease always belongs to a process that is
cutting, never to one queued behind its own busy slots.

Waiting is bounded by ``FLEET_WAIT_S``: a holder that died mid-cut, or whose
cut is slow, costs a waiter at most that long before it cuts the clip itself.
Leases are an optimisation like the store: whatever goes wrong with them ends
in a cut, never in an error.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal, Protocol

from pool.shared_store import SharedStore
from pool.uncancellable import spawn_detached

FLEET_WAIT_S = 10.0
_FIRST_PAUSE_S = 0.025
_LONGEST_PAUSE_S = 0.2

WaitOutcome = Literal["stored", "claimed", "gave_up"]


class LeaseHeld(Exception):
    """Another process holds the clip's lease: wait for its cut (:meth:`Fleet.wait_for_holder`)."""


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

    def lease(self, key: str) -> Lease:
        """This run's lease on ``key``, not taken yet (:meth:`Lease.take`, in a slot)."""
        return Lease(self, key)

    async def claim(self, key: str) -> bool:
        """Take the lease on ``key``; raises LeaseHeld if another process holds it.

        True if it is ours now (cut, then :meth:`release`); False if there are
        no leases (cut without one).
        """
        if self._leases is None:
            return False
        if await self._leases.claim(key):
            return True
        raise LeaseHeld(key)

    async def wait_for_holder(self, key: str) -> Path | bool:
        """After LeaseHeld: the clip from the store once its holder stored it.

        Or ``True`` when the holder gave the lease back without storing the clip
        and it is ours now, ``False`` after FLEET_WAIT_S: cut it either way.
        """
        leases = self._leases
        if leases is None:
            return False  # no leases, nobody to wait for
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FLEET_WAIT_S
        pause = _FIRST_PAUSE_S
        while True:
            if loop.time() >= deadline:
                self.waits["gave_up"] += 1
                return False
            await asyncio.sleep(pause)
            pause = min(2 * pause, _LONGEST_PAUSE_S)
            if await self.store.contains(key) and (stored := await self.store.fetch(key)):
                self.waits["stored"] += 1
                return stored
            if await leases.claim(key):
                break
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


class Lease:
    """One run's lease on one clip: taken in the run's slot, given back once the clip
    is in the store or the cut failed."""

    def __init__(self, fleet: Fleet, key: str) -> None:
        self._fleet = fleet
        self._key = key
        self.held = False

    async def take(self) -> None:
        """Claim it (raises LeaseHeld while another process holds it).

        A run preempted while it claims does not wait for the claim: the claim
        goes on, and a lease it gets is given back at once rather than left
        to block the fleet until it expires.
        """
        claiming = spawn_detached(self._fleet.claim(self._key))
        try:
            self.held = await asyncio.shield(claiming)
        except asyncio.CancelledError:
            claiming.add_done_callback(self._give_back_if_claimed)
            raise

    async def wait_for_holder(self) -> Path | None:
        """After LeaseHeld: the clip from the store once its holder stored it, else None
        (cut it: with the lease if the holder gave it back, see :meth:`Fleet.wait_for_holder`)."""
        found = await self._fleet.wait_for_holder(self._key)
        if isinstance(found, Path):
            return found
        self.held = found
        return None

    def _give_back_if_claimed(self, claiming: asyncio.Task[bool]) -> None:
        if not claiming.cancelled() and claiming.exception() is None and claiming.result():
            self._fleet.release(self._key)

    def give_back(self) -> None:
        """Release it if it is ours, in the background; a second call does nothing."""
        if self.held:
            self.held = False
            self._fleet.release(self._key)
