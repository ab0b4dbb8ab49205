"""What cutting a clip involves, as the review page shows it: frames, copy or re-encode.

Worked out from what is stored (the source's keyframes and precision) and
its frame times, without cutting anything, so a clip list can say for every
clip how many frames it shows and how much of it a smart cut re-encodes.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from db.records import ClipRecord, SourceRecord
from origin.frames import FrameTimes, to_micros
from origin.settings import Settings

Cut = Literal["copied", "smart", "editlist"]


@dataclass(frozen=True)
class CutFacts:
    """One clip's frame count (None when the frame times could not be read) and its cut."""

    frames: int | None
    cut: Cut
    reencoded_s: float

    def json(self) -> dict[str, Any]:
        """The keys the API adds to each clip."""
        return {"frames": self.frames, "cut": self.cut, "reencoded_s": self.reencoded_s}


def keyframe_micros(keyframes: Sequence[float]) -> list[int]:
    """Stored keyframe times (floats) on the microsecond grid of cut points, floored.

    The nanosecond nudge undoes float error (2.0 stored as 1.9999999999999998);
    a real frame time is never that close below a microsecond boundary.
    """
    return sorted(math.floor(k * 1_000_000 + 1e-3) for k in keyframes)


def edit_list_for_all(settings: Settings) -> bool:
    """Whether this deployment cuts every clip by copying (no smart cut at all)."""
    return settings.stream_mode != "file" or settings.precision == "editlist"


def cut_facts(
    clip: ClipRecord,
    source: SourceRecord,
    frames: FrameTimes | None,
    *,
    settings: Settings,
    keyframes: Sequence[int] | None = None,
) -> CutFacts:
    """How ``clip`` is cut: ``editlist`` (stream copy, the pre-roll hidden by an edit
    list), ``copied`` (it starts on a keyframe: nothing before it is re-encoded) or
    ``smart`` (the frames from its start to the next keyframe are re-encoded, for
    ``reencoded_s`` seconds).

    ``keyframes`` is :func:`keyframe_micros` of the source, when the caller has it.
    A start between two frames whose next frame is a keyframe is ``copied`` too
    (no frame lies before the keyframe; known only with ``frames``). A clip with
    no keyframe inside is re-encoded whole, and copied with the edit list
    instead when that is more than ``ORIGIN_SMART_MAX_REENCODE_S``, as the smart
    cut itself decides.
    """
    count = frames.count(clip.start, clip.end) if frames is not None else None
    if source.precision == "editlist" or edit_list_for_all(settings):
        return CutFacts(count, "editlist", 0.0)
    keys = keyframe_micros(source.keyframes) if keyframes is None else keyframes
    start, end = to_micros(clip.start), to_micros(clip.end)
    at = bisect_left(keys, start)
    next_key = keys[at] if at < len(keys) else end
    if next_key == start or (frames is not None and frames.count_micros(start, next_key) == 0):
        return CutFacts(count, "copied", 0.0)
    reencoded = min(next_key, end) - start
    if reencoded / 1_000_000 > settings.smart_max_reencode_s:
        return CutFacts(count, "editlist", 0.0)
    return CutFacts(count, "smart", reencoded / 1_000_000)
