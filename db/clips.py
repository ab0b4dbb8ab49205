"""Reading clips and editing cut points.

Every edit is one transaction that first locks its source's row, so edits of
one source run one after another (edits of different sources do not wait for
each other). Each edit bumps the version of every clip whose range changed;
a new clip starts at version 1. The MECE constraints in the schema check the
result at commit; the checks here only exist to give a clear message first.
"""

from __future__ import annotations

from decimal import Decimal

from db.connection import Connection
from db.errors import EditRefused, NotFound
from db.records import ClipRecord, EditResult, SourceRecord
from db.sources import get_source
from db.tiling import fmt_time

_CLIP_COLUMNS = "id, source_id, start_s, end_s, version, updated_at"


async def get_clip(conn: Connection, clip_id: int) -> ClipRecord:
    """One clip by id, or NotFound."""
    row = await conn.fetchrow(f"SELECT {_CLIP_COLUMNS} FROM clips WHERE id = $1", clip_id)
    if row is None:
        raise NotFound(f"no clip with id {clip_id}")
    return ClipRecord.from_row(row)


async def get_clip_with_source(conn: Connection, clip_id: int) -> tuple[ClipRecord, SourceRecord]:
    """One clip by id and the source it belongs to, or NotFound."""
    clip = await get_clip(conn, clip_id)
    return clip, await get_source(conn, clip.source_id)


async def list_clips(conn: Connection, source_id: int | None = None) -> list[ClipRecord]:
    """Clips of one source (or of all), in source then time order."""
    if source_id is None:
        rows = await conn.fetch(f"SELECT {_CLIP_COLUMNS} FROM clips ORDER BY source_id, start_s")
    else:
        rows = await conn.fetch(
            f"SELECT {_CLIP_COLUMNS} FROM clips WHERE source_id = $1 ORDER BY start_s", source_id
        )
    return [ClipRecord.from_row(r) for r in rows]


async def first_clips(conn: Connection) -> dict[int, ClipRecord]:
    """The first clip of every source, by source id (one query)."""
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (source_id) {_CLIP_COLUMNS} FROM clips ORDER BY source_id, start_s"
    )
    return {r["source_id"]: ClipRecord.from_row(r) for r in rows}


async def _lock_clip(conn: Connection, clip_id: int) -> tuple[SourceRecord, ClipRecord]:
    """Lock the clip's source for this transaction; return both as they are now."""
    source_id = await conn.fetchval("SELECT source_id FROM clips WHERE id = $1", clip_id)
    if source_id is None:
        raise NotFound(f"no clip with id {clip_id}")
    await conn.execute("SELECT 1 FROM source_videos WHERE id = $1 FOR UPDATE", source_id)
    # Re-read under the lock: an edit that committed while we waited may have
    # changed or removed the clip.
    clip = await get_clip(conn, clip_id)
    return await get_source(conn, source_id), clip


async def _successor(conn: Connection, clip: ClipRecord) -> ClipRecord:
    row = await conn.fetchrow(
        f"SELECT {_CLIP_COLUMNS} FROM clips WHERE source_id = $1 AND start_s = $2",
        clip.source_id,
        clip.end,
    )
    if row is None:
        raise EditRefused(f"clip {clip.id} is the last clip of source {clip.source_id}")
    return ClipRecord.from_row(row)


async def _set_range(conn: Connection, clip_id: int, start: Decimal, end: Decimal) -> ClipRecord:
    row = await conn.fetchrow(
        f"""UPDATE clips SET start_s = $2, end_s = $3, version = version + 1, updated_at = now()
             WHERE id = $1 RETURNING {_CLIP_COLUMNS}""",
        clip_id,
        start,
        end,
    )
    return ClipRecord.from_row(row)


def _check_length(source: SourceRecord, start: Decimal, end: Decimal) -> None:
    if end - start < source.frame_duration:
        raise EditRefused(
            f"[{fmt_time(start)}, {fmt_time(end)}) would be shorter than one frame "
            f"({source.frame_duration:.6f} s)"
        )


async def split(conn: Connection, clip_id: int, at: Decimal) -> EditResult:
    """Split a clip at source time ``at``: it keeps [start, at), a new clip gets [at, end)."""
    async with conn.transaction():
        source, clip = await _lock_clip(conn, clip_id)
        if not clip.start < at < clip.end:
            raise EditRefused(
                f"{fmt_time(at)} is not inside clip {clip.id} "
                f"[{fmt_time(clip.start)}, {fmt_time(clip.end)})"
            )
        _check_length(source, clip.start, at)
        _check_length(source, at, clip.end)
        head = await _set_range(conn, clip.id, clip.start, at)
        row = await conn.fetchrow(
            f"""INSERT INTO clips (source_id, start_s, end_s) VALUES ($1, $2, $3)
                RETURNING {_CLIP_COLUMNS}""",
            clip.source_id,
            at,
            clip.end,
        )
        return EditResult(changed=(head, ClipRecord.from_row(row)), source=source)


async def merge(conn: Connection, clip_id: int) -> EditResult:
    """Merge a clip with the clip that follows it; the clip keeps its id, the follower goes."""
    async with conn.transaction():
        source, clip = await _lock_clip(conn, clip_id)
        successor = await _successor(conn, clip)
        # Delete first: with the immediate exclusion constraint, the clip may
        # only grow into space that is already free.
        await conn.execute("DELETE FROM clips WHERE id = $1", successor.id)
        merged = await _set_range(conn, clip.id, clip.start, successor.end)
        return EditResult(changed=(merged,), removed=(successor.id,), source=source)


async def move_cut(conn: Connection, clip_id: int, at: Decimal) -> EditResult:
    """Move the boundary between a clip and its successor to source time ``at``."""
    async with conn.transaction():
        source, clip = await _lock_clip(conn, clip_id)
        successor = await _successor(conn, clip)
        if not clip.start < at < successor.end:
            raise EditRefused(
                f"{fmt_time(at)} is not strictly between the start of clip {clip.id} "
                f"({fmt_time(clip.start)}) and the end of clip {successor.id} "
                f"({fmt_time(successor.end)})"
            )
        if at == clip.end:
            return EditResult(changed=(), source=source)
        _check_length(source, clip.start, at)
        _check_length(source, at, successor.end)
        # Shrink before growing so no two clips ever overlap, even mid-transaction.
        if at > clip.end:
            after = await _set_range(conn, successor.id, at, successor.end)
            before = await _set_range(conn, clip.id, clip.start, at)
        else:
            before = await _set_range(conn, clip.id, clip.start, at)
            after = await _set_range(conn, successor.id, at, successor.end)
        return EditResult(changed=(before, after), source=source)
