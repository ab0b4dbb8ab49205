"""Database access for request handlers: one connection per block, outages as 503.

PostgreSQL being down, restarting, out of connections or slow is a bad day,
not a bug: every route that touches the database gets ``503`` with
``Retry-After`` and ``no-store`` instead of a 500, and the failure is counted
in ``origin_db_errors_total{kind}``:

- ``connect``: no connection could be opened (refused, starting up, shutting
  down, too many connections);
- ``lost``: a connection broke while in use (server terminated it, socket
  reset, the protocol is in a state nobody can trust);
- ``timeout``: no connection or no answer within ``ORIGIN_DB_TIMEOUT_S``;
- ``read_only``: the server refuses writes (a standby after a failover).

A connection that failed while in use is terminated, never handed back to
the pool: asyncpg can be left mid-protocol by a server that dies between two
messages ("cannot switch to state 12; another operation (2) is in progress"),
and the next request must not inherit that state.

A pooled connection that died while idle, unnoticed (the machine was
suspended, a NAT forgot it), is not an outage: the pool checks connections
that sat idle before handing them out and replaces dead ones before the
block runs (db.connection.Pool), so no request sees it and nothing is
counted here; the pool logs ``db_connection_stale`` instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Literal

import asyncpg
import structlog

from db.connection import Connection, terminate
from origin.errors import HttpError
from origin.state import AppState

log = structlog.get_logger("origin")

DbErrorKind = Literal["connect", "lost", "timeout", "read_only"]
RETRY_AFTER_S = 5

#: What an unavailable database looks like from asyncpg. Query errors (bad
#: SQL, constraint violations) are not here: they are bugs or 4xx answers.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # acquire, connect or command timeout
    asyncpg.PostgresConnectionError,  # class 08, e.g. closed in the middle of an operation
    asyncpg.OperatorInterventionError,  # class 57: shutdown, cannot connect now, cancelled
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.InterfaceError,  # connection closed, pool closing, operation in progress
    asyncpg.InternalClientError,
)


class DatabaseUnavailable(HttpError):
    """The database cannot answer now; the client should retry soon."""

    def __init__(self, kind: DbErrorKind) -> None:
        super().__init__(
            503, "database unavailable, retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )  # fmt: skip
        self.kind = kind


def _kind(exc: BaseException, *, acquired: bool) -> DbErrorKind:
    if isinstance(exc, TimeoutError | asyncpg.QueryCanceledError):
        return "timeout"
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return "read_only"
    return "lost" if acquired else "connect"


@contextlib.asynccontextmanager
async def connection(state: AppState) -> AsyncIterator[Connection]:
    """A pooled connection for the block; an outage becomes :class:`DatabaseUnavailable`."""
    acquired = False
    try:
        async with state.db_pool.acquire(timeout=state.settings.db_timeout_s) as conn:
            acquired = True
            try:
                yield conn
            except _UNAVAILABLE:
                terminate(conn)
                raise
    except _UNAVAILABLE as exc:
        kind = _kind(exc, acquired=acquired)
        state.metrics.db_errors.labels(kind).inc()
        log.warning("database_unavailable", kind=kind, error=f"{type(exc).__name__}: {exc}")
        raise DatabaseUnavailable(kind) from None
