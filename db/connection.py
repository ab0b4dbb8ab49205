"""Connections: the pool the app uses and database creation for the private cluster."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

log = structlog.get_logger("db")

Connection = Any  # asyncpg ships no type information; keep the alias in one place

#: A pooled connection idle at least this long is checked with ``SELECT 1``
#: before it is handed out (see :class:`Pool`). Connections in steady use
#: never pay for it; after a pause, the first use of each one does, once.
IDLE_CHECK_S = 5.0


def with_database(dsn: str, name: str) -> str:
    """Return ``dsn`` pointing at database ``name`` instead."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(admin_dsn: str, name: str, *, template: str | None = None) -> str:
    """Create database ``name`` unless it exists; return a DSN for it."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            sql = f"CREATE DATABASE {_quote_ident(name)}"
            if template:
                sql += f" TEMPLATE {_quote_ident(template)}"
            # A concurrent caller may have created it in the meantime.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(sql)
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


async def connect(dsn: str) -> Connection:
    """Open one connection (CLI use)."""
    return await asyncpg.connect(dsn)


class _PooledConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg is untyped
    """asyncpg's connection, remembering when the pool last took it back."""

    __slots__ = ("_released_at",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: (monotonic, wall clock) when it was last returned to the pool.
        self._released_at: tuple[float, float] | None = None

    async def reset(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109 (asyncpg's)
        """The pool's reset on every release (asyncpg's own), then the time of it."""
        await super().reset(timeout=timeout)
        self._released_at = (time.monotonic(), time.time())

    def released_at(self) -> tuple[float, float] | None:
        """(monotonic, wall clock) of its last release; None if never released."""
        return self._released_at


def _idle_s(released_at: tuple[float, float], now: tuple[float, float]) -> float:
    """Seconds between a release and ``now``, by whichever clock saw more of them.

    A suspended virtual machine may resume with its monotonic clock where it
    stopped: only the wall clock then shows the hours it slept. The wall
    clock alone could be set back, or jump ahead; taking the larger of the
    two only ever makes a check more likely, never less.
    """
    return max(now[0] - released_at[0], now[1] - released_at[1])


class Pool:
    """asyncpg's pool, handing out only connections that still reach the server.

    An idle pooled connection can be dead without its process knowing: when
    a Fly.io machine is suspended (``auto_stop_machines = "suspend"``) and
    resumed, or a NAT or firewall forgets an idle flow, the server's goodbye
    (a FATAL message and a FIN, after ``idle_session_timeout``, PgBouncer's
    ``client_idle_timeout``, a restart or a failover) never arrived. The
    first statement on it then fails (a reset, or no answer at all), and
    with a pool of N such connections, N requests fail in turn. A running
    process that does receive the FIN is already covered: asyncpg marks the
    connection closed and the pool opens a new one.

    So :meth:`acquire` checks, before the caller's block runs, every
    connection that sat idle :data:`IDLE_CHECK_S` or longer (by the
    monotonic or the wall clock, see :func:`_idle_s`) with ``SELECT 1``,
    bounded by half the time left (the other half is for opening a new
    connection). A connection that fails is terminated and another one
    taken; and as everything idle since before it crossed the same pause,
    those are terminated without a check (a server that never answers would
    otherwise cost a timeout per connection). The caller's own statements
    are never retried: they have not started yet.

    A database that is really down still fails promptly: opening the new
    connection fails, within ``timeout``, as it did without the check.
    """

    def __init__(self, pool: Any, *, timeout_s: float) -> None:
        self._pool = pool
        self._timeout_s = timeout_s
        #: Connections released at or before this monotonic time are presumed dead.
        self._dead_before = -math.inf

    def acquire(self, *, timeout: float | None = None) -> AbstractAsyncContextManager[Connection]:
        """A connection for an ``async with`` block, waiting ``timeout`` at most
        (None: no limit), like asyncpg's ``Pool.acquire``."""
        return self._acquired(timeout)

    @contextlib.asynccontextmanager
    async def _acquired(self, wait_s: float | None) -> AsyncIterator[Connection]:
        conn = await self._acquire_live(wait_s)
        try:
            yield conn
        finally:
            await self._pool.release(conn)

    async def close(self) -> None:
        """Close every connection, once the ones in use are released."""
        await self._pool.close()

    async def _acquire_live(self, wait_s: float | None) -> Connection:
        deadline = None if wait_s is None else time.monotonic() + wait_s
        # Each failed round terminates one connection; once the live ones are
        # gone, the pool opens a new one, which needs no check.
        for _ in range(self._pool.get_max_size() + 1):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            conn = await self._pool.acquire(timeout=left)
            released_at: tuple[float, float] | None = conn.released_at()
            if released_at is None:
                return conn  # opened for this acquire
            if released_at[0] <= self._dead_before:
                self._discard(conn, released_at, "idle across a pause that killed another")
                continue
            idle = _idle_s(released_at, (time.monotonic(), time.time()))
            if idle < IDLE_CHECK_S:
                return conn
            budget = self._timeout_s if left is None else min(left, self._timeout_s)
            try:
                await conn.fetchval("SELECT 1", timeout=budget / 2)
            except asyncio.CancelledError:
                terminate(conn)  # cancelled mid-statement: its state is unknown
                raise
            except Exception as exc:
                self._dead_before = max(self._dead_before, released_at[0])
                self._discard(conn, released_at, f"{type(exc).__name__}: {exc}")
                continue
            return conn
        # Not reached: no more than max_size connections can have been idle.
        raise ConnectionError("no live connection to the database")

    def _discard(self, conn: Connection, released_at: tuple[float, float], why: str) -> None:
        idle = _idle_s(released_at, (time.monotonic(), time.time()))
        log.info("db_connection_stale", idle_s=round(idle, 1), reason=why)
        terminate(conn)


def terminate(conn: Connection) -> None:
    """Close pooled connection ``conn`` at once; the pool gets its slot back, empty.

    asyncpg may have closed it already (it saw the socket fail) and given it
    back: the proxy then refuses every call, ``terminate`` included.
    """
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


async def create_pool(dsn: str, *, timeout_s: float, max_size: int = 10) -> Pool:
    """Open the connection pool the server uses, without connecting yet.

    Connections open on demand (``min_size=0``), so the server starts, and
    answers 503, while the database is down. ``timeout_s`` bounds opening a
    connection and every statement.
    """
    pool = await asyncpg.create_pool(
        dsn, min_size=0, max_size=max_size, timeout=timeout_s, command_timeout=timeout_s,
        connection_class=_PooledConnection,
    )  # fmt: skip
    return Pool(pool, timeout_s=timeout_s)
