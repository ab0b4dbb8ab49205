"""Single flight: concurrent callers for the same key share one run.

The run is a task of its own, not part of any caller, so a caller that is
cancelled (its client went away) leaves the run going for the others. Each
flight counts the parties interested in it; a flight created with
``cancel_when_abandoned`` is cancelled when that count drops to zero (a
streamed run nobody reads any more), otherwise it runs to completion (a file
run's result is cached, and the client will likely ask again).

A failed run is not remembered: every waiter gets its exception, and the next
caller starts a new run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from pool.errors import PoolClosed

T = TypeVar("T")


class Flight(Generic[T]):
    """One shared run and the number of parties interested in its outcome."""

    def __init__(self, key: str, *, cancel_when_abandoned: bool) -> None:
        self.key = key
        # Mutable: a run that reaches the point where finishing is cheaper than
        # discarding (its output is complete) turns it off.
        self.cancel_when_abandoned = cancel_when_abandoned
        self.abandoned = False
        # Set by a run whose result was copied from the shared clip store, not cut.
        self.from_store = False
        self._interest = 0
        self._task: asyncio.Task[T] | None = None

    @property
    def task(self) -> asyncio.Task[T]:
        """The task doing the run."""
        assert self._task is not None, "flight not started"
        return self._task

    @property
    def interest(self) -> int:
        """How many parties currently hold an interest in the outcome."""
        return self._interest

    def retain(self) -> None:
        """Register one more interested party."""
        self._interest += 1

    def release(self) -> None:
        """Drop one interested party; the last one out may cancel the run."""
        self._interest -= 1
        if self._interest <= 0 and self.cancel_when_abandoned and not self.task.done():
            self.abandoned = True
            self.task.cancel()

    async def wait(self) -> T:
        """Wait for the run's result (or exception) without being able to cancel it.

        Raises PoolClosed if the run was cancelled from outside (pool shutdown).
        """
        self.retain()
        try:
            return await asyncio.shield(self.task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self.task.cancelled() and (current is None or current.cancelling() == 0):
                raise PoolClosed() from None  # the run was stopped, not us
            raise
        finally:
            self.release()


class SingleFlight(Generic[T]):
    """Runs keyed by string; at most one shared run per key at a time."""

    def __init__(self) -> None:
        self._shared: dict[str, Flight[T]] = {}
        self._running: set[Flight[T]] = set()

    def get(self, key: str) -> Flight[T] | None:
        """The shared run for ``key`` that can still be joined, if any."""
        flight = self._shared.get(key)
        if flight is None or flight.abandoned or flight.task.done():
            return None
        return flight

    def start(
        self,
        key: str,
        run: Callable[[Flight[T]], Coroutine[Any, Any, T]],
        *,
        cancel_when_abandoned: bool = False,
        shared: bool = True,
    ) -> Flight[T]:
        """Start ``run(flight)`` as a new task; if ``shared``, later :meth:`get` calls find it.

        An unshared flight is still tracked, so :meth:`tasks` (shutdown) sees it.
        """
        flight: Flight[T] = Flight(key, cancel_when_abandoned=cancel_when_abandoned)
        flight._task = asyncio.get_running_loop().create_task(run(flight))
        self._running.add(flight)
        if shared:
            self._shared[key] = flight
        flight.task.add_done_callback(lambda _task: self._finished(flight))
        return flight

    async def run(
        self,
        key: str,
        run: Callable[[Flight[T]], Coroutine[Any, Any, T]],
        *,
        cancel_when_abandoned: bool = False,
    ) -> T:
        """Join the run for ``key`` or start it, and wait for its result."""
        flight = self.get(key) or self.start(key, run, cancel_when_abandoned=cancel_when_abandoned)
        return await flight.wait()

    def tasks(self) -> list[asyncio.Task[T]]:
        """Every run still going, shared or not."""
        return [f.task for f in self._running if not f.task.done()]

    def __len__(self) -> int:
        return len(self._running)

    def _finished(self, flight: Flight[T]) -> None:
        self._running.discard(flight)
        if self._shared.get(flight.key) is flight:
            del self._shared[flight.key]
        if not flight.task.cancelled():
            flight.task.exception()  # mark retrieved: nobody may be left to await it
