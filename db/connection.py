"""Connections: the pool the app uses and database creation for the private cluster."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

Connection = Any  # asyncpg ships no type information; keep the alias in one place


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


async def create_pool(dsn: str, *, timeout_s: float, max_size: int = 10) -> Any:
    """Open the connection pool the server uses, without connecting yet.

    Connections open on demand (``min_size=0``), so the server starts, and
    answers 503, while the database is down. ``timeout_s`` bounds opening a
    connection and every statement.
    """
    return await asyncpg.create_pool(
        dsn, min_size=0, max_size=max_size, timeout=timeout_s, command_timeout=timeout_s
    )
