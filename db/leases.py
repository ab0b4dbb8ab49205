"""Cut leases (see migrations/0004_cut_leases.sql): claim, release, sweep."""

from __future__ import annotations

from db.connection import Connection


async def claim(conn: Connection, cache_key: str, holder: str, ttl_s: float) -> bool:
    """Take the lease on ``cache_key`` for ``ttl_s`` unless another holder has a live one."""
    got = await conn.fetchval(
        """INSERT INTO cut_leases (cache_key, holder, expires_at)
           VALUES ($1, $2, now() + make_interval(secs => $3))
           ON CONFLICT (cache_key) DO UPDATE
               SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
               WHERE cut_leases.expires_at < now() OR cut_leases.holder = EXCLUDED.holder
           RETURNING true""",
        cache_key, holder, ttl_s,
    )  # fmt: skip
    return bool(got)


async def release(conn: Connection, cache_key: str, holder: str) -> None:
    """Give the lease back (only if it is still ours)."""
    await conn.execute(
        "DELETE FROM cut_leases WHERE cache_key = $1 AND holder = $2", cache_key, holder
    )


async def sweep(conn: Connection) -> int:
    """Delete expired leases (left by processes that died); return how many."""
    deleted: str = await conn.execute("DELETE FROM cut_leases WHERE expires_at < now()")
    return int(deleted.rsplit(" ", 1)[1])
