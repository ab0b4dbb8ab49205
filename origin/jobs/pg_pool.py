"""The job app's psycopg pool: procrastinate's own, but one dead connection sweeps the rest.

procrastinate opens its pool with ``check=AsyncConnectionPool.check_connection``:
every connection is tried (an empty statement) before it is handed out, and
one that fails is thrown away and the next one tried. Between failed checks,
though, psycopg_pool backs off (at once, then 1 s, 2 s, 4 s...) so as not to
spin against a server that is down. psycopg reads nothing from an idle
connection, so the pool's connections are found dead one by one, when
handed out, and they tend to die together: the machine was suspended and
resumed (Fly.io's ``auto_stop_machines = "suspend"``), the server restarted,
PgBouncer or a NAT dropped idle connections. With its four connections dead,
deferring a job (warming after an edit, an export request) took ~7 s, and
the worker's job fetches waited as long.

So the first failed check also checks every other idle connection
(``AsyncConnectionPool.check``: the dead ones are replaced) before
psycopg_pool retries, which it does at once after a first failure. A real
outage still fails as before: the new connections cannot be opened and
``getconn`` gives up after the pool's timeout.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


def sweeping_pool(**kwargs: Any) -> AsyncConnectionPool[AsyncConnection[Any]]:
    """procrastinate's ``pool_factory``: its pool, whose failed check sweeps the others."""
    kwargs.pop("check", None)  # procrastinate's: AsyncConnectionPool.check_connection
    pool: AsyncConnectionPool[AsyncConnection[Any]]

    async def check(conn: AsyncConnection[Any]) -> None:
        try:
            await AsyncConnectionPool.check_connection(conn)
        except Exception:
            await pool.check()  # its idle peers died with it, most likely
            raise

    pool = AsyncConnectionPool(check=check, **kwargs)
    return pool
