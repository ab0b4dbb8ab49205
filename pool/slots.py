"""A bounded number of ffmpeg slots: requests first, background work in the gaps.

A slot stands for one live ffmpeg process: hold it around the whole life of
the process, reaping included. A request that finds no free slot within the
queue timeout gets :class:`~pool.errors.Saturated` (the origin's 429, its
back-pressure); a timeout of 0 fails at once.

Background work (warming the clip store) holds a :class:`Claim` with
``background=True``. It only takes a slot while no request holds or waits
for one, and it yields: a request that finds every slot busy while a
background claim holds one preempts it (the holder's ``on_preempt`` stops
its run) and takes the freed slot, waiting at least ``PREEMPT_WAIT_S`` for
it even with a queue timeout of 0. So a request never waits behind
background work for a slot. A free slot is not a free core, though: while
any request holds a slot, ``on_requests(True)`` lets the owner pause the
background runs already going (pool/supervisor.py), and ``on_requests(False)``
resumes them. A background claim that a request comes to depend on (the
request joined its run) is promoted and no longer yields.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable

from pool.errors import Saturated

#: How long a request may wait for a preempted background run to release its
#: slot: killing and reaping ffmpeg takes milliseconds.
PREEMPT_WAIT_S = 2.0


class Claim:
    """One run's claim on a slot; a background claim yields to requests until promoted."""

    def __init__(self, *, background: bool = False) -> None:
        self.background = background
        self.preempted = False
        #: Called once when the slot is taken back: it must make the holder release it soon.
        self.on_preempt: Callable[[], object] | None = None
        #: Called when a request starts to depend on the run (its ffmpeg gets a request's
        #: priority back).
        self.on_promote: Callable[[], object] | None = None
        self._slots: Slots | None = None

    def promote(self) -> None:
        """A request now waits for this run: it keeps its slot and queues as a request."""
        if self.background:
            self.background = False
            # First out of the background set, so that becoming a request
            # holder (which pauses background runs) does not pause this one.
            if self.on_promote is not None:
                self.on_promote()
            if self._slots is not None:
                self._slots._promoted(self)


_Waiter = tuple[asyncio.Future[None], Claim]


class Slots:
    """At most ``max_processes`` holders; FIFO hand-over, requests before background claims."""

    def __init__(
        self,
        max_processes: int,
        queue_timeout_s: float,
        *,
        retry_after_s: float = 1.0,
        on_requests: Callable[[bool], object] | None = None,
    ) -> None:
        if max_processes < 1:
            raise ValueError("max_processes must be at least 1")
        if queue_timeout_s < 0:
            raise ValueError("queue_timeout_s must not be negative")
        self._max = max_processes
        self._queue_timeout_s = queue_timeout_s
        # A hint for clients, not a promise: one typical clip cut takes well under it.
        self._retry_after_s = retry_after_s
        self._active = 0
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._background_waiters: collections.deque[_Waiter] = collections.deque()
        self._yielding: list[Claim] = []  # background holders, oldest first
        self._serving: set[Claim] = set()  # request holders
        self._on_requests = on_requests
        self._preempting = 0  # preempted holders that have not released yet
        self.preemptions = 0  # counter, for metrics

    @property
    def max(self) -> int:
        """The number of slots."""
        return self._max

    @property
    def active(self) -> int:
        """Slots held now."""
        return self._active

    @property
    def waiting(self) -> int:
        """Requests queued for a slot now."""
        return _live(self._waiters)

    @property
    def waiting_background(self) -> int:
        """Background claims queued for a slot now."""
        return _live(self._background_waiters)

    @property
    def active_background(self) -> int:
        """Slots held by background claims now."""
        return len(self._yielding)

    @contextlib.asynccontextmanager
    async def acquire(self, claim: Claim | None = None) -> AsyncIterator[None]:
        """Hold one slot for the block, or raise Saturated if none frees up in time."""
        claim = claim or Claim()
        claim._slots = self
        try:
            await (self._acquire_background(claim) if claim.background else self._acquire(claim))
            try:
                yield
            finally:
                self._release(claim)
        finally:
            claim._slots = None

    async def _acquire(self, claim: Claim) -> None:
        if self._active < self._max and not self.waiting:
            self._hold(claim)
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((granted, claim))
        timeout_s = self._queue_timeout_s
        if self._make_room():
            timeout_s = max(timeout_s, PREEMPT_WAIT_S)
        if timeout_s == 0:
            self._forget(granted)
            raise Saturated(self._retry_after_s, detail=f"all {self._max} slots busy")
        try:
            async with asyncio.timeout(timeout_s):
                await granted
        except TimeoutError:
            if granted.done() and not granted.cancelled():
                return  # handed a slot in the same step as the timeout: keep it
            raise Saturated(
                self._retry_after_s,
                detail=f"no slot of {self._max} within {timeout_s:g} s",
            ) from None
        except BaseException:
            self._give_back_if_granted(granted, claim)
            raise
        finally:
            self._forget(granted)

    async def _acquire_background(self, claim: Claim) -> None:
        if self._idle_for_background() and not self.waiting_background:
            self._hold(claim)
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._background_waiters.append((granted, claim))
        try:
            await granted  # no timeout: background work waits for an idle slot
        except BaseException:
            self._give_back_if_granted(granted, claim)
            raise
        finally:
            self._forget(granted)

    def _give_back_if_granted(self, granted: asyncio.Future[None], claim: Claim) -> None:
        # Cancelled after _release handed us the slot: pass it on, or it leaks.
        if granted.done() and not granted.cancelled():
            self._release(claim)

    def _idle_for_background(self) -> bool:
        return self._active < self._max and not self._serving and not self.waiting

    def _hold(self, claim: Claim) -> None:
        self._active += 1
        self._holding(claim)

    def _holding(self, claim: Claim) -> None:
        if claim.background:
            self._yielding.append(claim)
        else:
            self._serving.add(claim)
            if len(self._serving) == 1:
                self._tell_requests(True)

    def _tell_requests(self, serving: bool) -> None:
        if self._on_requests is not None:
            self._on_requests(serving)

    def _make_room(self) -> bool:
        """Preempt background holders until every waiting request has a slot coming.

        True if a slot is on its way to the waiting requests.
        """
        while self.waiting > self._preempting and self._yielding:
            victim = self._yielding.pop()  # the newest: the least work lost
            victim.preempted = True
            self._preempting += 1
            self.preemptions += 1
            if victim.on_preempt is not None:
                victim.on_preempt()
        return self._preempting > 0

    def _promoted(self, claim: Claim) -> None:
        if claim in self._yielding:
            self._yielding.remove(claim)
            self._holding(claim)
            return
        for waiter in self._background_waiters:
            if waiter[1] is claim:
                self._background_waiters.remove(waiter)
                self._waiters.append(waiter)
                self._make_room()
                return

    def _release(self, claim: Claim) -> None:
        if claim in self._yielding:
            self._yielding.remove(claim)
        if claim.preempted:
            self._preempting -= 1
        was_serving = bool(self._serving)
        self._serving.discard(claim)
        # Hand the slot straight to the oldest live request (active stays the
        # same), so a newcomer cannot overtake the queue.
        while self._waiters:
            granted, next_claim = self._waiters.popleft()
            if not granted.done():
                granted.set_result(None)
                self._holding(next_claim)
                return
        self._active -= 1
        if was_serving and not self._serving:
            self._tell_requests(False)
        # Background claims take what is idle, oldest first.
        while self._background_waiters and self._idle_for_background():
            granted, next_claim = self._background_waiters.popleft()
            if not granted.done():
                granted.set_result(None)
                self._active += 1
                self._holding(next_claim)

    def _forget(self, granted: asyncio.Future[None]) -> None:
        for queue in (self._waiters, self._background_waiters):
            for waiter in queue:
                if waiter[0] is granted:
                    queue.remove(waiter)
                    return


def _live(queue: collections.deque[_Waiter]) -> int:
    return sum(1 for granted, _ in queue if not granted.done())
