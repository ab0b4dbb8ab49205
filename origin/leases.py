"""Cut leases in PostgreSQL (db/leases.py) for the pool's fleet-wide single flight.

Every failure reads as "no lease system": a claim answers True (cut), a
release is dropped (the lease expires on its own), so a database outage can
only cost a duplicate cut. Statements are never cancelled from outside (the
pool cancels runs it preempts or shuts down): the call finishes, then the
cancellation goes on, so a connection is never left mid-protocol.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog

from db import leases
from db.connection import Pool
from pool.uncancellable import await_uncancellable

log = structlog.get_logger("origin")

T = TypeVar("T")


class PgCutLeases:
    """Leases held under this process's own name, for ``ttl_s`` at the most."""

    def __init__(self, db_pool: Pool, *, ttl_s: float, timeout_s: float) -> None:
        self._db_pool = db_pool
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    async def claim(self, key: str) -> bool:
        got = await self._run(lambda conn: leases.claim(conn, key, self.holder, self._ttl_s))
        return True if got is None else got

    async def release(self, key: str) -> None:
        await self._run(lambda conn: leases.release(conn, key, self.holder))

    async def _run(self, statement: Callable[[Any], Awaitable[T]]) -> T | None:
        async def run() -> T:
            async with self._db_pool.acquire(timeout=self._timeout_s) as conn:
                return await statement(conn)

        try:
            return await await_uncancellable(asyncio.ensure_future(run()))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("cut_lease_unavailable", error=type(exc).__name__)
            return None
