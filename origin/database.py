"""Which database the CLI and server talk to: DATABASE_URL, else the private cluster."""

from __future__ import annotations

import anyio

from db.connection import connect, ensure_database
from db.embedded import private_cluster
from origin.settings import Settings

PRIVATE_DATABASE = "origin"


async def resolve_dsn(settings: Settings) -> str:
    """DSN to use; with DATABASE_URL unset, start the private cluster and migrate it.

    Migrations run automatically only on the private cluster: a shared
    database is migrated on purpose, with ``origin db up``.
    """
    if settings.database_url:
        return settings.database_url
    from db.migrate import migrate  # only the private cluster is migrated at start-up

    cluster = private_cluster(settings.home)
    admin_dsn = await anyio.to_thread.run_sync(cluster.ensure_running)
    dsn = await ensure_database(admin_dsn, PRIVATE_DATABASE)
    conn = await connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn
