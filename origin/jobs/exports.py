"""The export job: one clip version written as a standalone MP4 with a human file name.

The bytes are the clip's stream bytes (the same file a browser plays), cut
through the pool or copied from the shared store. They go to the store's
exports area, or to ``--to``: a directory or ``.mp4`` path on the worker's
machine, or ``s3://bucket/prefix``. A file appears whole or not at all.
"""

from __future__ import annotations

import asyncio
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from db import clips as clip_store
from db import exports as export_store
from db.connection import Connection
from db.errors import NotFound
from db.records import ClipRecord, SourceRecord
from origin.jobs.queue import JobQueue
from origin.jobs.runtime import JobRuntime, recorded
from origin.media import clip_request, prepare_source
from origin.settings import Settings
from pool.clip_pool import FetchedFile
from pool.errors import PoolError, Saturated
from pool.request import ClipRequest, seconds_text
from pool.store import StoreError
from pool.store.directory import place_whole
from pool.store.s3 import S3Store

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
EXPORT_ATTEMPTS = 3
JsonDict = dict[str, Any]


def export_file_name(source: SourceRecord, clip: ClipRecord) -> str:
    """``<source-name>_<start>-<end>.mp4``, times in seconds on the source."""
    stem = Path(unquote(urlparse(source.uri).path)).stem
    stem = _UNSAFE.sub("-", stem).strip("-.") or f"source{source.id}"
    return f"{stem}_{_seconds(clip.start)}-{_seconds(clip.end)}.mp4"


def _seconds(value: Decimal) -> str:
    return seconds_text(value.quantize(Decimal("0.001")))


class ExportRefused(Exception):
    """The export cannot be made; the message is for the user."""


@recorded("export")
async def export_clip(runtime: JobRuntime, export_id: int) -> str:
    """Write export ``export_id``; ``done``, or ``failed`` with the reason in its row."""
    async with runtime.db_pool.acquire() as conn:
        export = await export_store.get_export(conn, export_id)
        if export.status == "done":
            return "skipped"
        await export_store.mark_running(conn, export_id)
    try:
        location, size = await _write_export(runtime, export)
    except ExportRefused as exc:
        async with runtime.db_pool.acquire() as conn:
            await export_store.mark_failed(conn, export_id, str(exc))
        return "failed"
    async with runtime.db_pool.acquire() as conn:
        await export_store.mark_done(conn, export_id, location, size)
    return "done"


async def _write_export(runtime: JobRuntime, export: export_store.ExportRecord) -> tuple[str, int]:
    async with runtime.db_pool.acquire() as conn:
        try:
            clip, source = await clip_store.get_clip_with_source(conn, export.clip_id)
        except NotFound:
            raise ExportRefused("the clip was merged away before it was exported") from None
    if clip.version != export.clip_version:
        raise ExportRefused(
            f"the clip was edited (now v{clip.version}) before v{export.clip_version} "
            "was exported: export it again"
        )
    settings = runtime.settings
    await prepare_source(runtime.sources, source.uri)
    wanted = clip_request(clip, source, "file", runtime.sources, settings.precision)
    fetched = await _fetch(runtime, wanted)
    pool = runtime.clip_pool
    try:
        size = fetched.path.stat().st_size
        if export.destination is None:
            if pool.store is None:
                raise ExportRefused("there is no clip store to export to: pass --to")
            where = await asyncio.to_thread(
                pool.store.backend.put_export, export.store_name, fetched.path
            )
        else:
            where = await asyncio.to_thread(
                write_to, fetched.path, export.destination, export.file_name, settings
            )
    except (OSError, StoreError) as exc:
        raise ExportRefused(f"cannot write the export: {exc}") from exc
    finally:
        pool.discard_transient(fetched)
    return where, size


async def _fetch(runtime: JobRuntime, wanted: ClipRequest) -> FetchedFile:
    """The clip's file; a full pool is waited out a few times, then the job is retried."""
    for attempt in range(EXPORT_ATTEMPTS):
        try:
            return await runtime.clip_pool.fetch_file(wanted)
        except Saturated as exc:
            if attempt == EXPORT_ATTEMPTS - 1:
                raise  # procrastinate retries the job later
            await asyncio.sleep(exc.retry_after_s)
        except PoolError as exc:
            raise ExportRefused(f"the clip could not be cut: {exc}") from exc
    raise AssertionError("unreachable")


def write_to(path: Path, destination: str, file_name: str, settings: Settings) -> str:
    """Copy ``path`` to ``destination`` (directory, ``.mp4`` path or ``s3://``); say where."""
    parsed = urlparse(destination)
    if parsed.scheme == "s3":
        prefix = parsed.path.strip("/")
        key = prefix if prefix.endswith(".mp4") else "/".join(p for p in (prefix, file_name) if p)
        bucket = S3Store(parsed.netloc, "", endpoint_url=settings.s3_endpoint_url)
        bucket.upload(key, path, "video/mp4")
        return f"s3://{parsed.netloc}/{key}"
    target = Path(destination).expanduser()
    if target.suffix != ".mp4":
        target = target / file_name
    # A copy, not a link: the file is the user's now, to keep or to edit.
    place_whole(path, target, link=False)
    return str(target.resolve())


async def request_export(
    conn: Connection, jobs: JobQueue, clip_id: int, destination: str | None
) -> export_store.ExportRecord:
    """Record an export of the clip's current version and defer its job.

    Raises NotFound for an unknown clip. If the job cannot be deferred the
    row is removed again, so no export stays ``queued`` with no job behind it.
    """
    clip, source = await clip_store.get_clip_with_source(conn, clip_id)
    export = await export_store.add_export(
        conn, clip.id, clip.version, export_file_name(source, clip), destination
    )
    try:
        job_id = await jobs.export(export.id)
    except BaseException:
        await export_store.remove_export(conn, export.id)
        raise
    await export_store.set_job(conn, export.id, job_id)
    return export


def export_json(export: export_store.ExportRecord, download_url: str | None = None) -> JsonDict:
    """The export as the API and ``origin clips export --json`` show it."""
    return {
        "id": export.id,
        "clip_id": export.clip_id,
        "version": export.clip_version,
        "file_name": export.file_name,
        "status": export.status,
        "error": export.error,
        "size_bytes": export.size_bytes,
        "location": export.location,
        "download_url": download_url,
    }


async def follow_export(
    conn: Connection, export: export_store.ExportRecord, *, poll_s: float = 0.25
) -> export_store.ExportRecord:
    """Wait for an export to finish, showing its progress on stderr; return its last state."""
    from tqdm import tqdm  # the CLI's; the server never waits for an export

    stages = {"queued": 0, "running": 1, "done": 2, "failed": 2}
    hint_after_s = 10.0
    waited = 0.0
    with tqdm(total=2, desc=f"export {export.id}: queued", unit="step",
              bar_format="{desc} |{bar:20}| {elapsed}", file=sys.stderr) as bar:  # fmt: skip
        while export.status not in ("done", "failed"):
            await asyncio.sleep(poll_s)
            waited += poll_s
            export = await export_store.get_export(conn, export.id)
            bar.n = stages[export.status]
            description = f"export {export.id}: {export.status}"
            if export.status == "queued" and waited > hint_after_s:
                description += " (is a worker running? 'origin worker' or ORIGIN_WORKER=inline)"
            bar.set_description_str(description)
            bar.refresh()
    return export
