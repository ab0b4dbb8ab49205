"""Apply the plain SQL migrations in ``db/migrations`` in name order, once each."""

from __future__ import annotations

from importlib import resources

from db.connection import Connection

#: The job queue's tables (procrastinate), recorded like one of our migrations.
#: A newer procrastinate brings its own migration files; apply them with its CLI.
JOB_QUEUE_SCHEMA = "procrastinate-3.10"

# Any constant works; it only has to be the same for every migrating process.
_MIGRATION_LOCK = 0x6F726967696E


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every migration, in the order they apply."""
    folder = resources.files("db") / "migrations"
    files = [f for f in folder.iterdir() if f.name.endswith(".sql")]
    return [(f.name, f.read_text(encoding="utf-8")) for f in sorted(files, key=lambda f: f.name)]


async def migrate(conn: Connection) -> list[str]:
    """Apply pending migrations, each in its own transaction; return their names.

    The job queue's schema (procrastinate's tables and functions) comes last.

    An advisory lock makes concurrent callers (several replicas starting at
    once) apply each migration exactly once.
    """
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied_now.append(name)
        if JOB_QUEUE_SCHEMA not in done:
            async with conn.transaction():
                if await conn.fetchval("SELECT to_regclass('procrastinate_jobs')") is None:
                    # Loaded only here: a migrated database (every start of a
                    # server on the private cluster) never loads procrastinate.
                    from procrastinate.schema import SchemaManager

                    await conn.execute(SchemaManager.get_schema())
                await conn.execute(
                    "INSERT INTO schema_migrations (name) VALUES ($1)", JOB_QUEUE_SCHEMA
                )
            applied_now.append(JOB_QUEUE_SCHEMA)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now
