"""Slots: the bound, the queue wait, FIFO hand-over, cancellation (no processes)."""

from __future__ import annotations

import asyncio

import pytest

from pool.errors import Saturated
from pool.slots import Claim, Slots

pytestmark = pytest.mark.anyio


async def hold(
    slots: Slots, release: asyncio.Event, order: list[int] | None = None, n: int = 0
) -> None:
    async with slots.acquire():
        if order is not None:
            order.append(n)
        await release.wait()


async def test_fails_at_once_with_no_queue() -> None:
    slots = Slots(1, 0, retry_after_s=2.5)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(slots, release))
    await asyncio.sleep(0)
    assert slots.active == 1
    with pytest.raises(Saturated) as caught:
        async with slots.acquire():
            pass
    assert caught.value.retry_after_s == 2.5
    release.set()
    await holder
    assert slots.active == 0


async def test_waits_up_to_the_queue_timeout() -> None:
    slots = Slots(1, 0.05)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(slots, release))
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Saturated):
        async with slots.acquire():
            pass
    assert 0.04 < loop.time() - started < 1.0
    assert slots.waiting == 0
    release.set()
    await holder


async def test_a_freed_slot_goes_to_the_oldest_waiter() -> None:
    slots = Slots(2, 5)
    release = asyncio.Event()
    order: list[int] = []
    tasks = [asyncio.create_task(hold(slots, release, order, n)) for n in range(6)]
    await asyncio.sleep(0.01)
    assert (slots.active, slots.waiting, order) == (2, 4, [0, 1])
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4, 5]
    assert (slots.active, slots.waiting) == (0, 0)


async def test_a_newcomer_does_not_overtake_the_queue() -> None:
    slots = Slots(1, 5)
    first_release, second_release = asyncio.Event(), asyncio.Event()
    order: list[int] = []
    first = asyncio.create_task(hold(slots, first_release, order, 1))
    await asyncio.sleep(0)
    queued = asyncio.create_task(hold(slots, second_release, order, 2))
    await asyncio.sleep(0)
    first_release.set()
    await first
    # The slot was handed to the queued task; a newcomer must wait behind it.
    newcomer = asyncio.create_task(hold(slots, second_release, order, 3))
    await asyncio.sleep(0.01)
    second_release.set()
    await asyncio.gather(queued, newcomer)
    assert order == [1, 2, 3]


async def test_a_cancelled_waiter_leaves_the_queue_and_leaks_nothing() -> None:
    slots = Slots(1, 5)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(slots, release))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold(slots, release))
    await asyncio.sleep(0.01)
    assert slots.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.waiting == 0
    release.set()
    await holder
    assert slots.active == 0


async def test_a_waiter_cancelled_just_after_the_hand_over_passes_the_slot_on() -> None:
    slots = Slots(1, 5)
    held = slots.acquire()
    await held.__aenter__()
    waiter = asyncio.create_task(hold(slots, asyncio.Event()))
    await asyncio.sleep(0.01)
    assert slots.waiting == 1
    # Release (no suspension point: the slot is handed to `waiter`) and cancel
    # `waiter` in the same step, before it could resume and use the slot.
    await held.__aexit__(None, None, None)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.active == 0
    async with slots.acquire():
        assert slots.active == 1


async def test_an_exception_in_the_block_frees_the_slot() -> None:
    slots = Slots(1, 0)
    with pytest.raises(RuntimeError):
        async with slots.acquire():
            raise RuntimeError("boom")
    assert slots.active == 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_processes"):
        Slots(0, 1)
    with pytest.raises(ValueError, match="queue_timeout_s"):
        Slots(1, -1)


async def hold_claim(slots: Slots, claim: Claim, release: asyncio.Event) -> None:
    async with slots.acquire(claim):
        await release.wait()


async def test_a_request_preempts_a_background_holder_even_without_a_queue() -> None:
    slots = Slots(1, 0)
    claim = Claim(background=True)
    release = asyncio.Event()
    background = asyncio.create_task(hold_claim(slots, claim, release))
    claim.on_preempt = background.cancel
    await asyncio.sleep(0)
    assert (slots.active, slots.active_background) == (1, 1)
    async with slots.acquire():
        assert claim.preempted
        assert (slots.active, slots.active_background) == (1, 0)
    with pytest.raises(asyncio.CancelledError):
        await background
    assert (slots.active, slots.preemptions) == (0, 1)


async def test_background_claims_wait_behind_requests_without_a_timeout() -> None:
    slots = Slots(1, 5)
    release = asyncio.Event()
    order: list[str] = []

    async def take(name: str, claim: Claim | None = None) -> None:
        async with slots.acquire(claim):
            order.append(name)

    holder = asyncio.create_task(hold(slots, release))
    await asyncio.sleep(0)
    queued = [
        asyncio.create_task(take("warm", Claim(background=True))),
        asyncio.create_task(take("request")),
    ]
    await asyncio.sleep(0)
    assert (slots.waiting, slots.waiting_background) == (1, 1)
    release.set()
    await asyncio.gather(holder, *queued)
    assert order == ["request", "warm"]


async def test_a_background_claim_takes_no_slot_a_request_waits_for() -> None:
    slots = Slots(2, 5)
    release = asyncio.Event()
    holders = [asyncio.create_task(hold(slots, release)) for _ in range(2)]
    await asyncio.sleep(0)
    waiting_request = asyncio.create_task(hold(slots, release))
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05), slots.acquire(Claim(background=True)):
            pass
    release.set()
    await asyncio.gather(*holders, waiting_request)
    assert slots.active == 0


async def test_a_promoted_claim_keeps_its_slot() -> None:
    slots = Slots(1, 0)
    claim = Claim(background=True)
    release = asyncio.Event()
    background = asyncio.create_task(hold_claim(slots, claim, release))
    claim.on_preempt = background.cancel
    await asyncio.sleep(0)
    claim.promote()
    with pytest.raises(Saturated):
        async with slots.acquire():
            pass
    assert not claim.preempted
    release.set()
    await background


async def test_a_promoted_waiting_claim_queues_as_a_request() -> None:
    slots = Slots(1, 5)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(slots, release))
    await asyncio.sleep(0)
    claim = Claim(background=True)
    waiting = asyncio.create_task(hold_claim(slots, claim, asyncio.Event()))
    await asyncio.sleep(0)
    assert (slots.waiting, slots.waiting_background) == (0, 1)
    claim.promote()
    assert (slots.waiting, slots.waiting_background) == (1, 0)
    release.set()
    await holder
    await asyncio.sleep(0)
    assert slots.active == 1
    assert slots.active_background == 0
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert slots.active == 0


async def test_background_claims_wait_while_any_request_is_served() -> None:
    changes: list[bool] = []
    slots = Slots(3, 5, on_requests=changes.append)
    release = asyncio.Event()
    request = asyncio.create_task(hold(slots, release))
    await asyncio.sleep(0)
    warm = asyncio.create_task(hold_claim(slots, Claim(background=True), asyncio.Event()))
    await asyncio.sleep(0)
    assert (slots.active, slots.waiting_background) == (1, 1)  # two slots free, yet it waits
    release.set()
    await request
    await asyncio.sleep(0)
    assert (slots.active, slots.active_background) == (1, 1)
    assert changes == [True, False]
    warm.cancel()
    with pytest.raises(asyncio.CancelledError):
        await warm
    assert slots.active == 0
