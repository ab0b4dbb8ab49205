"""The last piece of start-up: a heap the garbage collector stops walking.

CPython's cyclic collector examines every tracked object in a full (oldest
generation) collection. A warm server holds about a hundred thousand of them,
nearly all from start-up (modules, botocore's service models, procrastinate,
the templates); measured under a saturated pool, a full collection paused
the event loop for 30 to 57 ms, and the allocations of each smart cut trigger
one every ten seconds or so: a cache hit that meets it waits that long.

:func:`settle_heap` loads what a first cut would (so that it is part of the
settled heap too), collects once, then ``gc.freeze()`` moves every object
alive into the permanent generation, which later collections skip. Objects
made after it (requests, clip rows, cuts) are collected as usual.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import time

import structlog

log = structlog.get_logger("origin.heap")

#: Modules the first clip of each kind imports on first use (pool/cuts.py),
#: left out of the server's start-up to keep it fast (origin/startup.py).
FIRST_CUT_MODULES = ("pool.cutting.smart_cut", "pool.cutting.editlist")


async def settle_heap() -> None:
    """Import FIRST_CUT_MODULES, collect, and freeze what is left; log what it froze.

    Run once the server is quiet (a later stage of origin/startup.py): the
    imports and the one full collection hold the GIL for tens of ms.
    """
    started = time.perf_counter()
    frozen = await asyncio.to_thread(_settle)
    log.info("heap_settled", frozen_objects=frozen,
             duration_s=round(time.perf_counter() - started, 4))  # fmt: skip


def _settle() -> int:
    for name in FIRST_CUT_MODULES:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
