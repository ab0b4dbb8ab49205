"""Registering sources and reading them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from db.connection import Connection
from db.errors import NotFound, SourceExists
from db.records import ClipRecord, SourceRecord

_SOURCE_COLUMNS = """s.id, s.uri, s.duration, s.container, s.video_codec, s.audio_codec,
    s.width, s.height, s.frame_count, s.keyframes, s.size_bytes, s.identity, s.created_at,
    s.rotation, s.display_width, s.display_height, s.precision, s.precision_reason"""


@dataclass(frozen=True)
class NewSource:
    """A probed source about to be registered."""

    uri: str
    duration: Decimal
    container: str
    video_codec: str
    audio_codec: str | None
    width: int
    height: int
    frame_count: int
    keyframes: Sequence[float]
    size_bytes: int
    identity: str
    rotation: int
    display_width: int
    display_height: int
    precision: str
    precision_reason: str | None


async def add_source(
    conn: Connection, new: NewSource, boundaries: Sequence[Decimal]
) -> tuple[SourceRecord, list[ClipRecord]]:
    """Insert a source and the clips between consecutive ``boundaries``, atomically."""
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                f"""INSERT INTO source_videos AS s (uri, duration, container, video_codec,
                        audio_codec, width, height, frame_count, keyframes, size_bytes, identity,
                        rotation, display_width, display_height, precision, precision_reason)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                            $12, $13, $14, $15, $16)
                    RETURNING {_SOURCE_COLUMNS}""",
                new.uri, new.duration, new.container, new.video_codec, new.audio_codec,
                new.width, new.height, new.frame_count, list(new.keyframes),
                new.size_bytes, new.identity, new.rotation, new.display_width,
                new.display_height, new.precision, new.precision_reason,
            )  # fmt: skip
            clip_rows = await conn.fetch(
                """INSERT INTO clips (source_id, start_s, end_s)
                   SELECT $1, b.start_s, b.end_s
                     FROM unnest($2::numeric[], $3::numeric[]) AS b(start_s, end_s)
                   RETURNING id, source_id, start_s, end_s, version, updated_at""",
                row["id"], list(boundaries[:-1]), list(boundaries[1:]),
            )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise SourceExists(f"source already registered: {new.uri}") from None
    source = SourceRecord.from_row(row)
    clips = sorted((ClipRecord.from_row(r) for r in clip_rows), key=lambda c: c.start)
    return source, clips


async def get_source(conn: Connection, source_id: int) -> SourceRecord:
    """One source by id, or NotFound."""
    row = await conn.fetchrow(
        f"""SELECT {_SOURCE_COLUMNS},
                   (SELECT count(*) FROM clips c WHERE c.source_id = s.id) AS clip_count
              FROM source_videos s WHERE s.id = $1""",
        source_id,
    )
    if row is None:
        raise NotFound(f"no source with id {source_id}")
    return SourceRecord.from_row(row)


async def list_sources(conn: Connection) -> list[SourceRecord]:
    """Every source, oldest first, with its clip count."""
    rows = await conn.fetch(
        f"""SELECT {_SOURCE_COLUMNS}, count(c.id) AS clip_count
              FROM source_videos s LEFT JOIN clips c ON c.source_id = s.id
             GROUP BY s.id ORDER BY s.id"""
    )
    return [SourceRecord.from_row(r) for r in rows]
