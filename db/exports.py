"""Export rows: what was asked for, and how far the job that writes it got."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from db.connection import Connection
from db.errors import NotFound

ExportStatus = Literal["queued", "running", "done", "failed"]

#: procrastinate job states after which nobody will write the export.
_GAVE_UP = ("failed", "cancelled", "aborted")
_COLUMNS = (
    "id, clip_id, clip_version, file_name, destination, status, location, size_bytes, error, "
    "created_at, finished_at"
)
_E_COLUMNS = ", ".join("e." + name for name in _COLUMNS.split(", "))


@dataclass(frozen=True)
class ExportRecord:
    """One export of one clip version."""

    id: int
    clip_id: int
    clip_version: int
    file_name: str
    destination: str | None  # None: the clip store's exports area
    status: ExportStatus
    location: str | None
    size_bytes: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def store_name(self) -> str:
        """Its name in the clip store's exports area: ``<id>/<file name>``."""
        return f"{self.id}/{self.file_name}"

    @classmethod
    def from_row(cls, row: Any) -> ExportRecord:
        """Build from an ``exports`` row."""
        return cls(**{name: row[name] for name in _COLUMNS.split(", ")})


async def add_export(
    conn: Connection, clip_id: int, version: int, file_name: str, destination: str | None
) -> ExportRecord:
    """Record a queued export."""
    row = await conn.fetchrow(
        f"""INSERT INTO exports (clip_id, clip_version, file_name, destination)
            VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}""",
        clip_id, version, file_name, destination,
    )  # fmt: skip
    return ExportRecord.from_row(row)


async def get_export(conn: Connection, export_id: int) -> ExportRecord:
    """One export by id, or NotFound.

    An export whose job gave up (procrastinate marked it failed after its
    retries, e.g. a worker that crashed each time) is reported, and from then
    on recorded, as failed.
    """
    row = await conn.fetchrow(
        f"""SELECT {_E_COLUMNS}, j.status::text AS job_status, j.attempts AS job_attempts
              FROM exports e LEFT JOIN procrastinate_jobs j ON j.id = e.job_id
             WHERE e.id = $1""",
        export_id,
    )
    if row is None:
        raise NotFound(f"no export with id {export_id}")
    export = ExportRecord.from_row(row)
    if export.status in ("queued", "running") and row["job_status"] in _GAVE_UP:
        reason = (
            f"the export job {row['job_status']} after {row['job_attempts']} attempts "
            "(the worker's log says why)"
        )
        await mark_failed(conn, export_id, reason)
        return await get_export(conn, export_id)
    return export


async def set_job(conn: Connection, export_id: int, job_id: int) -> None:
    """Remember the job that writes the export."""
    await conn.execute("UPDATE exports SET job_id = $2 WHERE id = $1", export_id, job_id)


async def mark_running(conn: Connection, export_id: int) -> None:
    """The job started (again, after a retry)."""
    await conn.execute(
        "UPDATE exports SET status = 'running', error = NULL WHERE id = $1", export_id
    )


async def mark_done(conn: Connection, export_id: int, location: str, size_bytes: int) -> None:
    """The file is in place."""
    await conn.execute(
        """UPDATE exports SET status = 'done', location = $2, size_bytes = $3,
                              finished_at = now() WHERE id = $1""",
        export_id, location, size_bytes,
    )  # fmt: skip


async def mark_failed(conn: Connection, export_id: int, error: str) -> None:
    """The job gave up; ``error`` is safe to show the user."""
    await conn.execute(
        "UPDATE exports SET status = 'failed', error = $2, finished_at = now() WHERE id = $1",
        export_id, error,
    )  # fmt: skip


async def remove_export(conn: Connection, export_id: int) -> None:
    """Forget an export whose job could not be deferred."""
    await conn.execute("DELETE FROM exports WHERE id = $1", export_id)
