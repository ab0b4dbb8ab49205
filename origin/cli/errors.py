"""What a failed command prints: one line for a user or database error, a traceback for a bug."""

from __future__ import annotations

from db.errors import EditRefused, NotFound, SourceExists
from origin.settings import SettingsError


class CliError(Exception):
    """A user error raised by the CLI itself."""


def user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that print one line and exit 1 (imported only once one is raised)."""
    from db.embedded import EmbeddedPostgresError
    from pool.cache import CacheDirectoryBusy
    from pool.ffmpeg_binary import FfmpegNotFound
    from pool.sources.locations import SourceError
    from pool.sources.probe import ProbeError
    from pool.store import StoreError

    return (
        NotFound, EditRefused, SourceExists, SourceError, ProbeError, FfmpegNotFound,
        EmbeddedPostgresError, SettingsError, CliError, CacheDirectoryBusy, StoreError,
    )  # fmt: skip


def _database_error_message(exc: Exception) -> str | None:
    import socket

    import asyncpg

    if isinstance(exc, asyncpg.UndefinedTableError):
        return "the database has no schema yet: run 'origin db up'"
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return f"refused by the database: {exc}"
    if isinstance(exc, asyncpg.InvalidPasswordError | asyncpg.InvalidCatalogNameError):
        return f"cannot use the database: {exc}"
    if isinstance(exc, ConnectionError | socket.gaierror | TimeoutError):
        return f"cannot connect to the database: {exc}"
    return None


def error_message(exc: Exception) -> str | None:
    """The one line a user or database error prints; None for a bug (a traceback)."""
    if isinstance(exc, user_errors()):
        return str(exc)
    return _database_error_message(exc)
