"""The database itself enforces MECE tiling: every violation here is raw SQL."""

from __future__ import annotations

import itertools
from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.anyio

SOURCE_SQL = """INSERT INTO source_videos (uri, duration, container, video_codec, width, height,
                    frame_count, keyframes, size_bytes, identity, display_width, display_height)
                VALUES ($1, $2, 'mp4', 'h264', 320, 240, 900, '{0,2,4}', 1000, 'x', 320, 240)
                RETURNING id"""


async def make_source(conn: Any, *bounds: str, uri: str = "file:///a.mp4") -> int:
    """A source of duration bounds[-1] tiled by clips between consecutive bounds."""
    async with conn.transaction():
        source_id: int = await conn.fetchval(SOURCE_SQL, uri, bounds[-1])
        for start, end in itertools.pairwise(bounds):
            await conn.execute(
                "INSERT INTO clips (source_id, start_s, end_s) VALUES ($1, $2, $3)",
                source_id, start, end,
            )  # fmt: skip
    return source_id


async def tiling(conn: Any, source_id: int) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT start_s::text, end_s::text FROM clips WHERE source_id = $1 ORDER BY start_s",
        source_id,
    )
    return [(r[0], r[1]) for r in rows]


async def test_a_valid_tiling_commits(conn: Any) -> None:
    source_id = await make_source(conn, "0", "10", "20", "30")
    assert await tiling(conn, source_id) == [
        ("0.000000", "10.000000"),
        ("10.000000", "20.000000"),
        ("20.000000", "30.000000"),
    ]


async def test_overlapping_insert_fails_at_once(conn: Any) -> None:
    source_id = await make_source(conn, "0", "10", "30")
    with pytest.raises(asyncpg.ExclusionViolationError):
        await conn.execute(
            "INSERT INTO clips (source_id, start_s, end_s) VALUES ($1, 5, 15)", source_id
        )


async def test_overlap_is_per_source(conn: Any) -> None:
    await make_source(conn, "0", "30", uri="file:///a.mp4")
    other = await make_source(conn, "0", "30", uri="file:///b.mp4")
    assert await tiling(conn, other) == [("0.000000", "30.000000")]


async def test_gap_fails_at_commit(conn: Any) -> None:
    source_id = await make_source(conn, "0", "10", "30")
    with pytest.raises(asyncpg.CheckViolationError, match="gap"):
        async with conn.transaction():
            await conn.execute(
                "UPDATE clips SET end_s = 9 WHERE source_id = $1 AND start_s = 0", source_id
            )
    assert await tiling(conn, source_id) == [("0.000000", "10.000000"), ("10.000000", "30.000000")]


async def test_deleting_a_clip_fails(conn: Any) -> None:
    source_id = await make_source(conn, "0", "10", "20", "30")
    with pytest.raises(asyncpg.CheckViolationError, match="gap"):
        await conn.execute("DELETE FROM clips WHERE source_id = $1 AND start_s = 10", source_id)


async def test_deleting_every_clip_fails(conn: Any) -> None:
    source_id = await make_source(conn, "0", "10", "30")
    with pytest.raises(asyncpg.CheckViolationError, match="no clips"):
        await conn.execute("DELETE FROM clips WHERE source_id = $1", source_id)


async def test_source_without_clips_fails(conn: Any) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="no clips"):
        await conn.fetchval(SOURCE_SQL, "file:///lonely.mp4", "30")
    assert await conn.fetchval("SELECT count(*) FROM source_videos") == 0


async def test_clips_must_start_at_zero(conn: Any) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="first clip starts at 1"):
        await make_source(conn, "1", "30")


async def test_clips_must_reach_the_duration(conn: Any) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="last clip ends at 20"):
        async with conn.transaction():
            source_id = await conn.fetchval(SOURCE_SQL, "file:///short.mp4", "30")
            await conn.execute(
                "INSERT INTO clips (source_id, start_s, end_s) VALUES ($1, 0, 20)", source_id
            )


async def test_clip_beyond_duration_fails(conn: Any) -> None:
    source_id = await make_source(conn, "0", "30")
    with pytest.raises(asyncpg.CheckViolationError, match="last clip ends at 31"):
        await conn.execute("UPDATE clips SET end_s = 31 WHERE source_id = $1", source_id)


async def test_shrinking_the_source_fails(conn: Any) -> None:
    source_id = await make_source(conn, "0", "30")
    with pytest.raises(asyncpg.CheckViolationError, match="not 20"):
        await conn.execute("UPDATE source_videos SET duration = 20 WHERE id = $1", source_id)


async def test_negative_start_fails(conn: Any) -> None:
    source_id = await make_source(conn, "0", "30")
    with pytest.raises(asyncpg.CheckViolationError, match="clips_start_not_negative"):
        await conn.execute("UPDATE clips SET start_s = -1 WHERE source_id = $1", source_id)


@pytest.mark.parametrize(("start", "end"), [("10", "10"), ("12", "10")])
async def test_empty_or_reversed_clip_fails(conn: Any, start: str, end: str) -> None:
    source_id = await make_source(conn, "0", "10", "30")
    with pytest.raises(asyncpg.CheckViolationError, match="clips_start_before_end"):
        await conn.execute(
            "UPDATE clips SET start_s = $2, end_s = $3 WHERE source_id = $1 AND start_s = 10",
            source_id, start, end,
        )  # fmt: skip


async def test_non_positive_duration_fails(conn: Any) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.fetchval(SOURCE_SQL, "file:///zero.mp4", "0")


async def test_moving_a_clip_to_another_source_fails(conn: Any) -> None:
    a = await make_source(conn, "0", "10", "30", uri="file:///a.mp4")
    b = await make_source(conn, "0", "30", uri="file:///b.mp4")
    with pytest.raises(asyncpg.PostgresError):
        await conn.execute(
            "UPDATE clips SET source_id = $2 WHERE source_id = $1 AND start_s = 10", a, b
        )


async def test_a_multi_step_edit_may_pass_through_gaps(conn: Any) -> None:
    source_id = await make_source(conn, "0", "10", "30")
    async with conn.transaction():
        await conn.execute(
            "UPDATE clips SET end_s = 5 WHERE source_id = $1 AND start_s = 0", source_id
        )
        await conn.execute(
            "UPDATE clips SET start_s = 5 WHERE source_id = $1 AND start_s = 10", source_id
        )
    assert await tiling(conn, source_id) == [("0.000000", "5.000000"), ("5.000000", "30.000000")]


async def test_deleting_a_source_takes_its_clips(conn: Any) -> None:
    source_id = await make_source(conn, "0", "10", "30")
    await conn.execute("DELETE FROM source_videos WHERE id = $1", source_id)
    assert await conn.fetchval("SELECT count(*) FROM clips") == 0
