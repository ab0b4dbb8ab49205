"""Start-up work the server leaves for after it listens (the origin scales to zero).

A machine woken by a request answers it only once ``origin serve`` is up, so
the lifespan does only what every request needs (the settings, the database
pool, the clip pool and its cache) and uvicorn listens right after. What the
first requests may not need, or can wait for, is a :class:`Deferred`:
started by :meth:`Startup.begin` once the server listens (origin/server.py)
and awaited by whoever needs it first, which starts it if nothing has yet.
Loading modules in a thread competes for the GIL with the event loop, so the
parts start in stages, out of the way of the requests that woke the server:

1. :data:`FIRST_STAGE_AFTER_S` after listening (the requests already queued
   are read first): finding and checking ffmpeg (``ffmpeg -version``), which
   clip and thumbnail answers, cuts and ``/readyz`` wait for; and an S3 clip
   store's client (boto3, loaded in a thread), which a first clip's store
   lookup waits for;
2. once the first stage is done and no clip is being cut (or after
   :data:`QUIET_WAIT_MAX_S`): the job queue (procrastinate and psycopg,
   loaded in a thread), which edits and exports wait for; then the
   queue-depth gauge and, with ``ORIGIN_WORKER=inline``, the worker start;
3. once quiet again: the cutting code is loaded and the heap frozen out of
   the garbage collector's way (origin/heap.py).

A *fatal* part that fails (no runnable ffmpeg) stops the server: it could
never answer a clip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog

log = structlog.get_logger("origin.startup")

T = TypeVar("T")
OnFatal = Callable[[BaseException], None]

#: The first stage starts this long after the server listens.
FIRST_STAGE_AFTER_S = 0.05
#: A later stage waits for the server to be quiet (checked this often) …
QUIET_POLL_S = 0.1
#: … but no longer than this.
QUIET_WAIT_MAX_S = 10.0


class Deferred(Generic[T]):
    """One piece of start-up, built once in a task of its own, awaited by whoever needs it."""

    def __init__(self, name: str, build: Callable[[], Awaitable[T]], *, fatal: bool) -> None:
        self.name = name
        self.fatal = fatal
        self._build = build
        self._task: asyncio.Future[T] | None = None
        self._on_fatal: OnFatal | None = None

    def watch(self, on_fatal: OnFatal) -> None:
        """Report a fatal failure to ``on_fatal``, even one that has happened already."""
        self._on_fatal = on_fatal
        self._report()

    def start(self) -> None:
        """Start building it, unless it has been started."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._build())
            self._task.add_done_callback(self._finished)

    async def get(self) -> T:
        """The built value, once it is; raises what building it raised.

        A caller that is cancelled leaves the building to go on for the others.
        """
        self.start()
        assert self._task is not None
        return await asyncio.shield(self._task)

    async def settled(self) -> None:
        """Wait until it is built or has failed (start it first); never raises."""
        self.start()
        assert self._task is not None
        await asyncio.wait({self._task})

    def ready(self) -> T | None:
        """The value if it is built, else None (not started, still building, or failed)."""
        task = self._task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    def _failure(self) -> BaseException | None:
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    async def cancel(self) -> None:
        """Stop building (at shutdown) and wait until it has stopped."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _finished(self, task: asyncio.Future[T]) -> None:
        exc = self._failure()  # retrieved here, so asyncio never reports it as unhandled
        if exc is None:
            return
        log.error("startup_failed", part=self.name, fatal=self.fatal,
                  error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        self._report()

    def _report(self) -> None:
        exc = self._failure()
        if exc is not None and self.fatal and self._on_fatal is not None:
            self._on_fatal(exc)


class Startup:
    """The deferred parts of one server's start-up, in stages (see the module docstring).

    ``quiet`` says whether the server is quiet enough for a later stage to start.
    """

    def __init__(
        self, *stages: Sequence[Deferred[Any]], quiet: Callable[[], bool] = lambda: True
    ) -> None:
        self.stages = stages
        self._quiet = quiet
        self._task: asyncio.Task[None] | None = None

    def begin(self, on_fatal: OnFatal | None = None) -> None:
        """Start the stages (the server listens now); ``on_fatal`` hears of a fatal failure."""
        if self._task is not None:
            return
        if on_fatal is not None:
            for stage in self.stages:
                for part in stage:
                    part.watch(on_fatal)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        await asyncio.sleep(FIRST_STAGE_AFTER_S)
        for number, stage in enumerate(self.stages):
            if number:
                await self._until_quiet()
            for part in stage:
                part.start()
            for part in stage:
                await part.settled()

    async def _until_quiet(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + QUIET_WAIT_MAX_S
        # Polled: the clip pool has no event for "idle", and this runs once per process.
        while not self._quiet() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(QUIET_POLL_S)

    async def cancel(self) -> None:
        """Stop the parts still being built (and the stages not started)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for stage in self.stages:
            for part in stage:
                await part.cancel()
