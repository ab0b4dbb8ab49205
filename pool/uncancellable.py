"""Work that must finish even when whoever started it is cancelled: a reap, a rename, a thread.

A client that goes away cancels its request's task. What that task started
and cannot undo (a process to reap, a thread still writing a file) must
still run to its end, so that nothing is released behind its back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# The event loop keeps only weak references to tasks; these must outlive
# whoever started them (a reap must finish even if its requester is gone).
_detached: set[asyncio.Task[Any]] = set()


def spawn_detached(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run ``coro`` in a task that lives on until it is done, whoever drops it."""
    task = asyncio.ensure_future(coro)
    _detached.add(task)
    task.add_done_callback(_detached.discard)
    return task


async def await_uncancellable(task: asyncio.Future[T]) -> T:
    """Wait for ``task`` to finish even if we are cancelled meanwhile, then re-raise the cancel."""
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done() and not task.cancelled():
                break  # it finished in the same step as our cancellation
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
