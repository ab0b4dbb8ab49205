"""Cut-point edits: each one transaction, versions bumped, refusals clear, concurrency safe."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal
from typing import Any

import anyio
import asyncpg
import pytest

from db import clips as store
from db.errors import EditRefused, NotFound, SourceExists
from db.records import ClipRecord
from db.sources import NewSource, add_source, get_source, list_sources
from db.tiling import boundaries_every

pytestmark = pytest.mark.anyio

D = Decimal


def new_source(uri: str = "file:///s.mp4", duration: str = "60", frames: int = 1800) -> NewSource:
    return NewSource(
        uri=uri, duration=D(duration), container="mp4", video_codec="h264", audio_codec="aac",
        width=320, height=240, frame_count=frames, keyframes=[0.0, 2.0], size_bytes=1,
        identity="i", rotation=0, display_width=320, display_height=240, precision="smart",
        precision_reason=None,
    )  # fmt: skip


async def setup_source(conn: Any, every: str = "10") -> list[ClipRecord]:
    source = new_source()
    bounds = boundaries_every(source.duration, D(every), source.duration / source.frame_count)
    _, clips = await add_source(conn, source, bounds)
    return clips


def ranges(clips: list[ClipRecord]) -> list[tuple[Decimal, Decimal, int]]:
    return [(c.start, c.end, c.version) for c in clips]


async def test_add_source_tiles_it(conn: Any) -> None:
    clips = await setup_source(conn)
    assert [(c.start, c.end, c.version) for c in clips] == [
        (D(s), D(s + 10), 1) for s in range(0, 60, 10)
    ]
    [source] = await list_sources(conn)
    assert source.clip_count == 6


async def test_same_uri_twice_is_refused(conn: Any) -> None:
    await setup_source(conn)
    with pytest.raises(SourceExists):
        await setup_source(conn)


async def test_split_bumps_the_split_clip_and_creates_version_1(conn: Any) -> None:
    clips = await setup_source(conn)
    result = await store.split(conn, clips[1].id, D("12.5"))
    head, tail = result.changed
    assert (head.id, head.start, head.end, head.version) == (clips[1].id, D(10), D("12.5"), 2)
    assert (tail.start, tail.end, tail.version) == (D("12.5"), D(20), 1)
    after = await store.list_clips(conn, clips[0].source_id)
    assert len(after) == 7
    untouched = [c for c in after if c.id not in (head.id, tail.id)]
    assert all(c.version == 1 for c in untouched)


async def test_merge_removes_the_successor(conn: Any) -> None:
    clips = await setup_source(conn)
    result = await store.merge(conn, clips[2].id)
    assert result.removed == (clips[3].id,)
    [merged] = result.changed
    assert (merged.start, merged.end, merged.version) == (D(20), D(40), 2)
    with pytest.raises(NotFound):
        await store.get_clip(conn, clips[3].id)


async def test_move_cut_both_ways_bumps_both_neighbours(conn: Any) -> None:
    clips = await setup_source(conn)
    later = await store.move_cut(conn, clips[0].id, D("14"))
    assert ranges(list(later.changed)) == [(D(0), D(14), 2), (D(14), D(20), 2)]
    earlier = await store.move_cut(conn, clips[0].id, D("3"))
    assert ranges(list(earlier.changed)) == [(D(0), D(3), 3), (D(3), D(20), 3)]


async def test_move_cut_to_where_it_is_changes_nothing(conn: Any) -> None:
    clips = await setup_source(conn)
    result = await store.move_cut(conn, clips[0].id, D(10))
    assert result.changed == ()
    assert (await store.get_clip(conn, clips[0].id)).version == 1


@pytest.mark.parametrize(
    ("edit", "at", "message"),
    [
        ("split", "10", "not inside"),  # the clip's own start: zero-length head
        ("split", "20", "not inside"),  # its end: zero-length tail
        ("split", "25", "not inside"),
        ("split", "-1", "not inside"),
        ("split", "10.01", "shorter than one frame"),
        ("move-cut", "10", "not strictly between"),  # would empty the clip
        ("move-cut", "30", "not strictly between"),  # would empty the successor
        ("move-cut", "99", "not strictly between"),
        ("move-cut", "29.99", "shorter than one frame"),
    ],
)
async def test_bad_edits_are_refused_and_change_nothing(
    conn: Any, edit: str, at: str, message: str
) -> None:
    clips = await setup_source(conn)
    target = clips[1]
    with pytest.raises(EditRefused, match=message):
        if edit == "split":
            await store.split(conn, target.id, D(at))
        else:
            await store.move_cut(conn, target.id, D(at))
    assert ranges(await store.list_clips(conn, target.source_id)) == ranges(clips)


async def test_last_clip_has_nothing_to_merge_or_move(conn: Any) -> None:
    clips = await setup_source(conn)
    with pytest.raises(EditRefused, match="last clip"):
        await store.merge(conn, clips[-1].id)
    with pytest.raises(EditRefused, match="last clip"):
        await store.move_cut(conn, clips[-1].id, D(55))


async def test_unknown_clip(conn: Any) -> None:
    with pytest.raises(NotFound):
        await store.split(conn, 999, D(1))
    with pytest.raises(NotFound):
        await store.merge(conn, 999)
    with pytest.raises(NotFound):
        await get_source(conn, 999)


async def assert_tiles(conn: Any, source_id: int, duration: Decimal) -> list[ClipRecord]:
    clips = await store.list_clips(conn, source_id)
    assert clips[0].start == 0
    assert clips[-1].end == duration
    for before, after in itertools.pairwise(clips):
        assert before.end == after.start
    return clips


async def test_fifty_concurrent_splits_lose_no_edit(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=10, max_size=10)
    try:
        async with pool.acquire() as conn:
            clips = await setup_source(conn, every="60")
        # Multiples of 0.1 s: any two differ by more than one frame (1/30 s).
        cuts = [D(n) / 10 for n in random.sample(range(1, 600), 50)]

        async def split_at(at: Decimal) -> None:
            # Find the clip holding `at` and split it; a concurrent split may
            # have shrunk that clip meanwhile, in which case look again.
            for _ in range(60):
                async with pool.acquire() as conn:
                    owner = next(
                        c for c in await store.list_clips(conn, clips[0].source_id)
                        if c.start < at < c.end
                    )  # fmt: skip
                    try:
                        await store.split(conn, owner.id, at)
                        return
                    except EditRefused as exc:
                        refusal = str(exc)
                    if "not inside" not in refusal:
                        raise AssertionError(refusal)
            raise AssertionError(f"could not split at {at}")

        async with anyio.create_task_group() as tg:
            for at in cuts:
                tg.start_soon(split_at, at)
        async with pool.acquire() as conn:
            after = await assert_tiles(conn, clips[0].source_id, D(60))
        assert sorted(c.start for c in after[1:]) == sorted(cuts)
    finally:
        await pool.close()


async def test_fifty_concurrent_random_edits_keep_a_valid_tiling(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=10, max_size=10)
    rng = random.Random(7)
    applied: list[str] = []
    try:
        async with pool.acquire() as conn:
            clips = await setup_source(conn, every="5")
        source_id = clips[0].source_id

        async def random_edit() -> None:
            async with pool.acquire() as conn:
                current = await store.list_clips(conn, source_id)
                clip = rng.choice(current)
                kind = rng.choice(["split", "merge", "move-cut"])
                at = D(rng.randrange(0, 6000)) / 100
                try:
                    if kind == "split":
                        result = await store.split(conn, clip.id, at)
                    elif kind == "merge":
                        result = await store.merge(conn, clip.id)
                    else:
                        result = await store.move_cut(conn, clip.id, at)
                except (EditRefused, NotFound):
                    return  # stale choice or bad point: refused cleanly, nothing written
                applied.append(kind)
                for changed in result.changed:
                    # Whatever an edit reported must still be (or have been superseded
                    # by a higher version of) the clip in the database.
                    row = await conn.fetchrow("SELECT version FROM clips WHERE id = $1", changed.id)
                    assert row is None or row["version"] >= changed.version

        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(random_edit)
        async with pool.acquire() as conn:
            await assert_tiles(conn, source_id, D(60))
        assert applied, "no edit was applied at all"
    finally:
        await pool.close()
