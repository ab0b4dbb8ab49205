"""Live clip changes: one LISTEN connection per process, fanned out to event streams.

Migration 0006 makes every change to ``clips`` notify channel
``origin_clips`` with the source's id, whoever made it (this replica,
another one, the CLI). :class:`ClipEvents` keeps one dedicated connection
listening and hands each notification to the subscribers of that source:
the review pages' event streams (origin/routes/events.py).

A subscriber's queue is bounded and never blocks the fan-out: a change only
says "read this source's clips again", so when a slow subscriber already
has one waiting, the newer one adds nothing and is dropped.

The database going away is a bad day, not a crash: the server starts and
serves without it (origin/db_access.py), and this connection is retried
with a growing delay. Notifications sent while nobody listened are lost, so
whenever the connection is (re)established, every subscriber is told to read
its clips again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import Iterator
from typing import Any

import asyncpg
import structlog

from origin.metrics import Metrics

log = structlog.get_logger("origin")

CHANNEL = "origin_clips"
#: Changes a subscriber may have waiting; one is enough to make it read again.
QUEUE_SIZE = 1
#: Reconnection delays: from a restart's few seconds to a long outage.
BACKOFF_MIN_S = 0.25
BACKOFF_MAX_S = 5.0
#: How often an idle connection is checked: a peer that vanished without
#: closing the socket (a network partition) would otherwise go unnoticed.
KEEPALIVE_S = 30.0


class Subscription:
    """One subscriber's view of one source's changes."""

    def __init__(self, source_id: int) -> None:
        self.source_id = source_id
        # None means the hub closed: the subscriber should stop.
        self._queue: asyncio.Queue[int | None] = asyncio.Queue(QUEUE_SIZE)

    def offer(self) -> None:
        """A change of this source; dropped when one is already waiting."""
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(self.source_id)

    def end(self) -> None:
        """Wake the subscriber for good: :meth:`next` answers False from now on."""
        while not self._queue.empty():  # make room: the end outranks a pending change
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def next(self) -> bool:
        """Wait for the next change: True, or False when the hub closed."""
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # every later call ends too
            return False
        return True


class ClipEvents:
    """The process's LISTEN connection and the subscribers it feeds."""

    def __init__(self, dsn: str, *, timeout_s: float, metrics: Metrics) -> None:
        self._dsn = dsn
        self._timeout_s = timeout_s
        self._metrics = metrics
        self._subscribers: dict[int, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start listening in the background; returns at once, database or not."""
        self._task = asyncio.create_task(self._listen_forever(), name="clip-events")

    async def close(self) -> None:
        """Stop listening and end every subscription."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription.end()

    @contextlib.contextmanager
    def subscribe(self, source_id: int) -> Iterator[Subscription]:
        """Changes of ``source_id`` for the block's duration."""
        subscription = Subscription(source_id)
        self._subscribers.setdefault(source_id, set()).add(subscription)
        self._metrics.live_streams.inc()
        try:
            yield subscription
        finally:
            self._metrics.live_streams.dec()
            subscribers = self._subscribers[source_id]
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[source_id]

    def publish(self, source_id: int) -> None:
        """Tell the subscribers of ``source_id`` its clips changed."""
        for subscription in self._subscribers.get(source_id, ()):
            subscription.offer()

    def publish_all(self) -> None:
        """Tell every subscriber to read its clips again (changes may have been missed)."""
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription.offer()

    def _notified(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        self._metrics.live_notifications.inc()
        try:
            source_id = int(str(payload))
        except ValueError:
            log.warning("live_notification_ignored", payload=str(payload)[:40])
            return
        self.publish(source_id)

    async def _listen_forever(self) -> None:
        delay = BACKOFF_MIN_S
        while True:
            conn: Any = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=self._timeout_s)
                lost = asyncio.Event()
                conn.add_termination_listener(functools.partial(_set, lost))
                await conn.add_listener(CHANNEL, self._notified)
                self._up(True)
                log.info("live_listening", channel=CHANNEL)
                # Subscribers that came while nobody listened (the database was
                # down, or the server had just started) may have missed changes.
                self.publish_all()
                delay = BACKOFF_MIN_S
                await self._until_lost(conn, lost)
                log.warning("live_connection_lost", retry_in_s=delay)
            # Whatever broke (refused, reset, timed out, a server shutting
            # down), the answer is the same: drop the connection, retry later.
            # Cancellation (shutdown) is not an Exception and goes through.
            except Exception as exc:
                log.warning(
                    "live_connection_failed", error=f"{type(exc).__name__}: {exc}"[:200],
                    retry_in_s=delay,
                )  # fmt: skip
            finally:
                self._up(False)
                if conn is not None:
                    conn.terminate()  # never waits on a server that may be gone
            # Jitter: replicas that lost the database together do not return together.
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _until_lost(self, conn: Any, lost: asyncio.Event) -> None:
        """Return when the connection closes or stops answering."""
        while True:
            try:
                await asyncio.wait_for(lost.wait(), KEEPALIVE_S)
                return
            except TimeoutError:
                await conn.fetchval("SELECT 1", timeout=self._timeout_s)

    def _up(self, up: bool) -> None:
        self._metrics.live_listening.set(1 if up else 0)


def _set(event: asyncio.Event, _conn: Any) -> None:
    event.set()
