"""The clip-change fan-out: per-source subscribers, bounded queues that never block, the end."""

from __future__ import annotations

import anyio
import pytest

from origin.live import ClipEvents
from origin.metrics import Metrics

pytestmark = pytest.mark.anyio


def hub() -> ClipEvents:
    # Never started: these tests feed it as the LISTEN connection would.
    return ClipEvents("postgresql://unused", timeout_s=1, metrics=Metrics())


async def test_each_subscriber_hears_of_its_own_source_only() -> None:
    events = hub()
    with events.subscribe(1) as one, events.subscribe(1) as also_one, events.subscribe(2) as two:
        events.publish(1)
        events.publish(3)  # nobody watches source 3
        with anyio.fail_after(1):
            assert await one.next() is True
            assert await also_one.next() is True
        with anyio.move_on_after(0.05) as waited:
            await two.next()
        assert waited.cancelled_caught


async def test_a_slow_subscriber_gets_one_change_for_many_and_blocks_nobody() -> None:
    events = hub()
    with events.subscribe(1) as slow, events.subscribe(1) as fast:
        for _ in range(1000):
            events.publish(1)  # synchronous: it cannot wait for anyone
            with anyio.fail_after(1):
                assert await fast.next() is True
        with anyio.fail_after(1):
            assert await slow.next() is True  # the 1000 changes, folded into one
        with anyio.move_on_after(0.05) as waited:
            await slow.next()
        assert waited.cancelled_caught


async def test_closing_ends_every_subscription_and_they_leave_cleanly() -> None:
    metrics = Metrics()
    events = ClipEvents("postgresql://unused", timeout_s=1, metrics=metrics)
    with events.subscribe(1) as pending, events.subscribe(2) as idle:
        assert metrics.registry.get_sample_value("origin_live_streams") == 2
        events.publish(1)
        await events.close()
        with anyio.fail_after(1):
            assert await pending.next() is False  # the end outranks a pending change
            assert await idle.next() is False
            assert await idle.next() is False
    assert metrics.registry.get_sample_value("origin_live_streams") == 0
    events.publish(1)  # no subscribers left: nothing to do, nothing fails


async def test_after_a_reconnection_everyone_reads_again() -> None:
    events = hub()
    with events.subscribe(1) as one, events.subscribe(2) as two:
        events.publish_all()
        with anyio.fail_after(1):
            assert await one.next() is True
            assert await two.next() is True
