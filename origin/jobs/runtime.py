"""What a job body works with: settings, the database pool, the clip pool and metrics."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from origin.metrics import Metrics
from origin.settings import Settings
from pool.clip_pool import ClipPool
from pool.sources.locations import SourceResolver

if TYPE_CHECKING:
    from procrastinate import JobContext


@dataclass(frozen=True)
class JobRuntime:
    """Long-lived objects shared by every job a worker runs."""

    settings: Settings
    db_pool: Any  # asyncpg.Pool; asyncpg has no type information
    clip_pool: ClipPool
    sources: SourceResolver
    metrics: Metrics


def runtime_of(context: JobContext) -> JobRuntime:
    """The runtime the worker passed to its jobs."""
    runtime: JobRuntime = context.additional_context["runtime"]
    return runtime


P = ParamSpec("P")
JobBody = Callable[Concatenate[JobRuntime, P], Awaitable[str]]
JobTask = Callable[..., Awaitable[str]]


def recorded(queue: str) -> Callable[[JobBody[P]], JobTask]:
    """Make a job body a procrastinate task function that counts its outcome and latency.

    The body gets the runtime instead of the context and returns its outcome
    (``done``, ``skipped``, …); an exception counts as ``failed`` (procrastinate
    retries it), a cancellation as ``interrupted``. Deferring passes
    ``enqueued_at`` (epoch seconds) so latency runs from enqueue to done.
    """

    def wrap(body: JobBody[P]) -> JobTask:
        @functools.wraps(body)
        async def task(context: JobContext, *args: Any, enqueued_at: float, **kwargs: Any) -> str:
            runtime = runtime_of(context)
            outcome = "failed"
            try:
                outcome = await body(runtime, *args, **kwargs)
                return outcome
            except asyncio.CancelledError:
                outcome = "interrupted"
                raise
            finally:
                runtime.metrics.job_finished(queue, outcome, enqueued_at)

        return task

    return wrap
