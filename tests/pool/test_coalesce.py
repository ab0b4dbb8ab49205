"""Single flight: one run per key, shared results and errors, abandonment (no processes)."""

from __future__ import annotations

import asyncio

import pytest

from pool.coalesce import Flight, SingleFlight
from pool.errors import PoolClosed

pytestmark = pytest.mark.anyio


class Run:
    """A controllable run body that counts its starts and notices cancellation."""

    def __init__(self, result: str = "done", error: Exception | None = None) -> None:
        self.starts = 0
        self.cancelled = False
        self.go = asyncio.Event()
        self.result = result
        self.error = error

    async def __call__(self, flight: Flight[str]) -> str:
        self.starts += 1
        try:
            await self.go.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        return self.result


async def test_concurrent_callers_share_one_run() -> None:
    flights: SingleFlight[str] = SingleFlight()
    run = Run()
    callers = [asyncio.create_task(flights.run("k", run)) for _ in range(10)]
    await asyncio.sleep(0.01)
    run.go.set()
    assert await asyncio.gather(*callers) == ["done"] * 10
    assert run.starts == 1
    assert len(flights) == 0


async def test_different_keys_run_separately() -> None:
    flights: SingleFlight[str] = SingleFlight()
    run = Run()
    run.go.set()
    results = await asyncio.gather(flights.run("a", run), flights.run("b", run))
    assert list(results) == ["done", "done"]
    assert run.starts == 2


async def test_every_waiter_gets_the_error_and_the_next_call_runs_again() -> None:
    flights: SingleFlight[str] = SingleFlight()
    failing = Run(error=ValueError("boom"))
    callers = [asyncio.create_task(flights.run("k", failing)) for _ in range(3)]
    await asyncio.sleep(0.01)
    failing.go.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)
    assert failing.starts == 1

    working = Run()
    working.go.set()
    assert await flights.run("k", working) == "done"


async def test_a_cancelled_waiter_does_not_cancel_the_shared_run() -> None:
    flights: SingleFlight[str] = SingleFlight()
    run = Run()
    leaving = asyncio.create_task(flights.run("k", run, cancel_when_abandoned=True))
    staying = asyncio.create_task(flights.run("k", run, cancel_when_abandoned=True))
    await asyncio.sleep(0.01)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    run.go.set()
    assert await staying == "done"
    assert not run.cancelled


async def test_a_run_abandoned_by_everyone_is_cancelled_when_asked() -> None:
    flights: SingleFlight[str] = SingleFlight()
    run = Run()
    callers = [
        asyncio.create_task(flights.run("k", run, cancel_when_abandoned=True)) for _ in range(2)
    ]
    await asyncio.sleep(0.01)
    flight = flights.get("k")
    assert flight is not None
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    await asyncio.sleep(0)
    assert run.cancelled
    assert flight.abandoned
    assert flights.get("k") is None  # an abandoned run is never joined


async def test_a_file_run_survives_abandonment() -> None:
    flights: SingleFlight[str] = SingleFlight()
    run = Run()
    caller = asyncio.create_task(flights.run("k", run))
    await asyncio.sleep(0.01)
    flight = flights.get("k")
    assert flight is not None
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)
    run.go.set()
    assert await flight.task == "done"
    assert not run.cancelled


async def test_waiters_of_a_run_stopped_from_outside_get_pool_closed() -> None:
    flights: SingleFlight[str] = SingleFlight()
    run = Run()
    caller = asyncio.create_task(flights.run("k", run))
    await asyncio.sleep(0.01)
    for task in flights.tasks():
        task.cancel()
    with pytest.raises(PoolClosed):
        await caller
    assert run.cancelled


async def test_an_unshared_flight_is_tracked_but_not_joinable() -> None:
    flights: SingleFlight[str] = SingleFlight()
    run = Run()
    flight = flights.start("k", run, shared=False)
    assert flights.get("k") is None
    assert flights.tasks() == [flight.task]
    run.go.set()
    assert await flight.wait() == "done"
    assert flights.tasks() == []
