"""How late the event loop runs what is due: the delay every cheap answer pays first.

A task sleeps for a fixed interval and records how much later than asked it
woke up. CPU starvation (ffmpeg on every core) and anything that holds the
loop (blocking work on its thread, a GIL-heavy thread) show up here before
they show up in request latencies.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram

INTERVAL_S = 0.1


async def watch_loop_lag(histogram: Histogram, interval_s: float = INTERVAL_S) -> None:
    """Record the loop's lag in ``histogram`` every ``interval_s`` until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        histogram.observe(max(0.0, loop.time() - due))
