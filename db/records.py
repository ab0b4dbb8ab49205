"""Plain typed rows returned by db/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class SourceRecord:
    """A registered source video."""

    id: int
    uri: str
    duration: Decimal
    container: str
    video_codec: str
    audio_codec: str | None
    width: int
    height: int
    frame_count: int
    keyframes: tuple[float, ...]
    size_bytes: int
    identity: str
    created_at: datetime
    rotation: int = 0  # clockwise degrees players turn the coded picture
    display_width: int = 0
    display_height: int = 0
    precision: str | None = None  # "smart" or "editlist"; None if not recorded
    precision_reason: str | None = None
    clip_count: int = 0

    @property
    def frame_duration(self) -> Decimal:
        """Average duration of one frame: the shortest clip worth making."""
        return self.duration / self.frame_count

    @classmethod
    def from_row(cls, row: Any) -> SourceRecord:
        """Build from a ``source_videos`` row (optionally with ``clip_count``)."""
        return cls(
            id=row["id"],
            uri=row["uri"],
            duration=row["duration"],
            container=row["container"],
            video_codec=row["video_codec"],
            audio_codec=row["audio_codec"],
            width=row["width"],
            height=row["height"],
            frame_count=row["frame_count"],
            keyframes=tuple(row["keyframes"]),
            size_bytes=row["size_bytes"],
            identity=row["identity"],
            created_at=row["created_at"],
            rotation=row["rotation"],
            display_width=row["display_width"],
            display_height=row["display_height"],
            precision=row["precision"],
            precision_reason=row["precision_reason"],
            clip_count=row.get("clip_count", 0),
        )


@dataclass(frozen=True)
class ClipRecord:
    """One clip: [start, end) seconds on its source's timeline, at a version."""

    id: int
    source_id: int
    start: Decimal
    end: Decimal
    version: int
    updated_at: datetime

    @property
    def duration(self) -> Decimal:
        """Length of the clip in seconds."""
        return self.end - self.start

    @classmethod
    def from_row(cls, row: Any) -> ClipRecord:
        """Build from a ``clips`` row."""
        return cls(
            id=row["id"],
            source_id=row["source_id"],
            start=row["start_s"],
            end=row["end_s"],
            version=row["version"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class EditResult:
    """What one edit changed: clips whose range changed or that are new, and removed ids."""

    changed: tuple[ClipRecord, ...]
    removed: tuple[int, ...] = ()
    source: SourceRecord | None = None  # the clips' source, as read under the edit's lock
