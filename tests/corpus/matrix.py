"""The corpus registered and served: each source cut five ways, and its clips on disk.

The cuts are placed from each source's own keyframes so every source gets
the same cases: the head clip (ends mid-GOP), a clip inside one GOP, one
starting on a keyframe, one starting mid-GOP with a keyframe inside, and one
running to the end of the source. Some cut times fall on a frame's start,
some between two frames.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from tests.corpus.recipes import Recipe
from tests.mediacheck import Frame
from tests.servers import Server

CASES = ("head", "inside one GOP", "on a keyframe", "keyframe inside", "to the end")


def _stored(t: Fraction) -> Decimal:
    """A time as the database stores it: to the microsecond, not after ``t``."""
    return (Decimal(t.numerator) / Decimal(t.denominator)).quantize(
        Decimal("0.000001"), rounding=ROUND_FLOOR
    )


def cut_points(frames: list[Frame], keyframes: list[Fraction]) -> list[Decimal]:
    """Four interior cuts giving the five cases of :data:`CASES`."""
    end = frames[-1].time
    first = frames[0].time
    later = [k for k in keyframes if k > first + Fraction(1, 2)]
    if len(later) < 2:  # one GOP only: every clip is inside it
        span = end - first
        return [_stored(first + span * n / 5) + Decimal("0.004") for n in range(1, 5)]
    k1, k2 = later[0], later[1]
    after = next((k for k in keyframes if k > k2), end)
    return [
        _stored(k1 - (k1 - first) * Fraction(2, 5)) + Decimal("0.004"),  # between frames
        _stored(k1),  # on the keyframe's start
        _stored(k1 + (k2 - k1) * Fraction(9, 20)),
        _stored(k2 + (after - k2) * Fraction(3, 10)),
    ]


@dataclass
class CorpusSource:
    """One generated source, what a player sees in it, and how it was registered."""

    recipe: Recipe
    path: Path
    frames: list[Frame]  # presentation order, on the source's own timeline
    keyframes: list[Fraction]  # times of the frames flagged as keyframes
    registered: dict[str, Any]  # `sources add --json`

    @property
    def has_audio(self) -> bool:
        return self.recipe.audio

    @property
    def clips(self) -> list[dict[str, Any]]:
        clips: list[dict[str, Any]] = self.registered["clips"]
        return clips


@dataclass
class Corpus:
    """Every corpus source registered in one database, served by one origin."""

    server: Server
    sources: dict[str, CorpusSource]
    folder: Path
    database_url: str
    _files: dict[tuple[int, int], Path] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def clip_file(self, clip: dict[str, Any]) -> Path:
        """The clip's bytes as the origin serves them, fetched once per test session."""
        key = (clip["id"], clip["version"])
        with self._lock:
            if key not in self._files:
                with self.server.client() as http:
                    answer = http.get(clip["url"], timeout=120)
                assert answer.status_code == 200, answer.text
                path = self.folder / f"clip-{clip['id']}-v{clip['version']}.mp4"
                path.write_bytes(answer.content)
                self._files[key] = path
            return self._files[key]


@dataclass(frozen=True)
class CorpusClip:
    """One (source, case) pair of the matrix."""

    source: CorpusSource
    case: int

    @property
    def clip(self) -> dict[str, Any]:
        return self.source.clips[self.case]

    @property
    def start(self) -> Fraction:
        return Fraction(str(self.clip["start"]))

    @property
    def end(self) -> Fraction:
        return Fraction(str(self.clip["end"]))

    @property
    def frames(self) -> list[Frame]:
        """The source frames the clip must show: those presented in [start, end)."""
        return [f for f in self.source.frames if self.start <= f.time < self.end]

    def __str__(self) -> str:
        return f"{self.source.recipe.name}/{CASES[self.case]}"
