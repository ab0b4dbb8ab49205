"""The clip-row cache: fresh rows answer, newer versions ask, stale rows only stand in."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from db.records import ClipRecord, SourceRecord
from origin.clip_rows import ClipRows

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = SourceRecord(
    id=1, uri="file:///a.mp4", duration=Decimal(10), container="mov,mp4", video_codec="h264",
    audio_codec=None, width=320, height=240, frame_count=300, keyframes=(0.0,),
    size_bytes=1, identity="x", created_at=NOW,
)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def clip(clip_id: int = 7, version: int = 3) -> ClipRecord:
    return ClipRecord(clip_id, 1, Decimal(0), Decimal(5), version, NOW)


def rows(clock: Clock, **kwargs: int) -> ClipRows:
    return ClipRows(fresh_s=5, stale_s=60, clock=clock, **kwargs)


def test_fresh_rows_answer_for_their_version_and_older_ones() -> None:
    clock = Clock()
    cache = rows(clock)
    cache.remember(clip(version=3), SOURCE)
    clock.now += 4.9
    found = cache.fresh(7, 3)
    assert found is not None
    assert found.clip.version == 3
    assert found.source is SOURCE
    assert cache.fresh(7, 1) is not None  # an old version: the route redirects
    assert cache.fresh(7, 4) is None  # edited elsewhere: ask the database
    assert cache.fresh(8, 1) is None


def test_rows_go_stale_then_expire() -> None:
    clock = Clock()
    cache = rows(clock)
    cache.remember(clip(), SOURCE)
    clock.now += 5
    assert cache.fresh(7, 3) is None
    assert cache.stale(7, 3) is not None
    assert cache.stale(7, 4) is None
    clock.now += 55
    assert cache.stale(7, 3) is None
    assert len(cache) == 0  # dropped once useless


def test_forget_and_the_size_bound() -> None:
    clock = Clock()
    cache = rows(clock, max_entries=2)
    for clip_id in (1, 2):
        cache.remember(clip(clip_id), SOURCE)
    assert cache.fresh(1, 3) is not None  # 1 is now the most recently used
    cache.remember(clip(3), SOURCE)
    assert [cache.fresh(i, 3) is not None for i in (1, 2, 3)] == [True, False, True]
    cache.forget([1, 99])
    assert cache.fresh(1, 3) is None
    assert len(cache) == 1


def test_a_newer_read_replaces_the_row() -> None:
    clock = Clock()
    cache = rows(clock)
    cache.remember(clip(version=3), SOURCE)
    cache.remember(clip(version=4), SOURCE)
    found = cache.fresh(7, 4)
    assert found is not None
    assert found.clip.version == 4
