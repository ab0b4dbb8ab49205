"""How the API says a clip is cut: frames it shows, copied, smart (and how much) or edit list."""

from __future__ import annotations

import dataclasses
from array import array
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from db.records import ClipRecord, SourceRecord
from origin.cut_facts import CutFacts, cut_facts, keyframe_micros
from origin.frames import FrameTimes
from origin.settings import Settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
# 10 s at 30 fps whose keyframes, every 2 s, are stored as floats (1/30 s steps).
SOURCE = SourceRecord(
    id=1, uri="file:///a.mp4", duration=Decimal(10), container="mov,mp4", video_codec="h264",
    audio_codec=None, width=320, height=240, frame_count=300,
    keyframes=tuple(n * 60 / 30 for n in range(5)), size_bytes=1, identity="x",
    created_at=NOW, precision="smart",
)  # fmt: skip
FRAMES = FrameTimes(array("q", (n * 1_000_000 // 30 for n in range(300))), b"")
SETTINGS = Settings.from_env({})


def facts(start: str, end: str, **changes: Any) -> CutFacts:
    clip = ClipRecord(1, 1, Decimal(start), Decimal(end), 1, NOW)
    settings = dataclasses.replace(SETTINGS, **changes) if changes else SETTINGS
    return cut_facts(clip, SOURCE, FRAMES, settings=settings)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("0", "2", CutFacts(60, "copied", 0.0)),
        ("2", "2.5", CutFacts(15, "copied", 0.0)),
        ("2.5", "5", CutFacts(75, "smart", 1.5)),  # up to the keyframe at 4
        ("4.5", "5", CutFacts(15, "smart", 0.5)),  # no keyframe inside: all of it
        ("5.99", "7", CutFacts(30, "copied", 0.0)),  # between frames, the next one a keyframe
        ("5.966666", "7", CutFacts(31, "smart", 0.033334)),  # on the frame before it
        ("0.033333", "0.066666", CutFacts(1, "smart", 0.033333)),  # one frame, floored times
    ],
)
def test_smart_cut_sources(start: str, end: str, expected: CutFacts) -> None:
    assert facts(start, end) == expected


def test_what_cuts_with_the_edit_list() -> None:
    assert facts("2.5", "5", precision="editlist") == CutFacts(75, "editlist", 0.0)
    assert facts("2.5", "5", stream_mode="pipe") == CutFacts(75, "editlist", 0.0)
    # More to re-encode than the smart cut takes on: it copies with the edit list.
    assert facts("2.5", "5", smart_max_reencode_s=1.0) == CutFacts(75, "editlist", 0.0)
    listed = dataclasses.replace(SOURCE, precision="editlist")
    clip = ClipRecord(1, 1, Decimal("2.5"), Decimal(5), 1, NOW)
    assert cut_facts(clip, listed, None, settings=SETTINGS) == CutFacts(None, "editlist", 0.0)


def test_without_frame_times_the_cut_is_still_known() -> None:
    clip = ClipRecord(1, 1, Decimal("2.5"), Decimal(5), 1, NOW)
    assert cut_facts(clip, SOURCE, None, settings=SETTINGS) == CutFacts(None, "smart", 1.5)
    assert CutFacts(None, "smart", 1.5).json() == {
        "frames": None,
        "cut": "smart",
        "reencoded_s": 1.5,
    }


def test_float_keyframes_land_on_the_microsecond_grid() -> None:
    assert keyframe_micros([0.3, 2.0, 1 / 15, 0.1 + 0.2]) == [66666, 300000, 300000, 2000000]
