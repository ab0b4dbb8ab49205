"""Pure parts of the jobs: store clean-up plans, neighbours of an edit, names, cron lines."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

from croniter import croniter

from db.records import ClipRecord, SourceRecord
from origin.jobs.app import maintenance_cron
from origin.jobs.exports import export_file_name
from origin.jobs.maintenance import CurrentVersion, plan_store_cleanup
from origin.jobs.queue import neighbours
from pool.store import StoredClip

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = SourceRecord(
    id=3, uri="file:///media/Day%201%20take%20%232.mp4", duration=Decimal(60),
    container="mov,mp4", video_codec="h264", audio_codec=None, width=320, height=240,
    frame_count=1800, keyframes=(0.0,), size_bytes=1, identity="x", created_at=NOW,
)  # fmt: skip


def clip(clip_id: int, start: str, end: str, version: int = 1) -> ClipRecord:
    return ClipRecord(clip_id, 3, Decimal(start), Decimal(end), version, NOW)


def stored(key: str, size: int = 100, last_used: float = 0.0) -> StoredClip:
    return StoredClip(key, size, last_used)


def test_superseded_versions_go_only_after_the_grace_period() -> None:
    objects = [stored("c1-v1-smart-a"), stored("c1-v2-smart-b"), stored("c2-v1-smart-c")]
    current = {1: CurrentVersion(2, since=1000.0), 2: CurrentVersion(1, since=0.0)}
    plan = plan_store_cleanup(objects, current, now=1059.0, grace_s=60, max_bytes=10**9)
    assert plan == []
    plan = plan_store_cleanup(objects, current, now=1061.0, grace_s=60, max_bytes=10**9)
    assert plan == [(objects[0], "superseded")]


def test_clips_that_no_longer_exist_go_once_unused_for_the_grace_period() -> None:
    merged_away = stored("c9-v4-smart-a", last_used=1000.0)
    plan = plan_store_cleanup([merged_away], {}, now=1030.0, grace_s=60, max_bytes=10**9)
    assert plan == []
    plan = plan_store_cleanup([merged_away], {}, now=1061.0, grace_s=60, max_bytes=10**9)
    assert plan == [(merged_away, "superseded")]


def test_the_size_cap_evicts_least_recently_used_first() -> None:
    objects = [
        stored("c1-v1-smart-a", size=400, last_used=30.0),
        stored("c2-v1-smart-b", size=400, last_used=10.0),
        stored("c3-v1-jpeg-c.jpg", size=400, last_used=20.0),
        stored("odd-name", size=400, last_used=40.0),
    ]
    current = {i: CurrentVersion(1, since=0.0) for i in (1, 2, 3)}
    plan = plan_store_cleanup(objects, current, now=50.0, grace_s=60, max_bytes=900)
    assert plan == [(objects[1], "size"), (objects[2], "size")]
    assert objects[2].clip_version == (3, 1)
    assert objects[3].clip_version is None


def test_neighbours_are_the_clips_around_each_changed_one() -> None:
    clips = [clip(1, "0", "10"), clip(2, "10", "20"), clip(3, "20", "30"), clip(4, "30", "40")]
    changed = [dataclasses.replace(clips[1], version=2), dataclasses.replace(clips[2], version=2)]
    assert [c.id for c in neighbours(changed, clips)] == [1, 4]
    assert [c.id for c in neighbours([clips[0]], clips)] == [2]
    assert neighbours([], clips) == []


def test_export_names_are_human_and_safe() -> None:
    assert export_file_name(SOURCE, clip(1, "12.5", "20")) == "Day-1-take-2_12.5-20.mp4"
    assert export_file_name(SOURCE, clip(1, "0", "3.0333333")) == "Day-1-take-2_0-3.033.mp4"
    s3 = dataclasses.replace(SOURCE, uri="s3://bucket/dir/..mp4")
    assert export_file_name(s3, clip(1, "1", "2")) == "source3_1-2.mp4"


def test_maintenance_ticks_at_the_configured_period() -> None:
    for every_s, expected_gap in ((2, 2), (15, 15), (60, 60), (300, 300)):
        ticks = croniter(maintenance_cron(every_s), 0)
        first, second = ticks.get_next(float), ticks.get_next(float)
        assert second - first == expected_gap
